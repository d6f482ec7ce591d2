//! Operations on a queue from outside its producers and consumers: what `ami.inspect`,
//! `ami.DeadLetters` and the `ami` command line do, over the clients' own connections
//! (seeds, TLS, ACL user), so an operator reaches every cluster the clients reach.

mod dead_letters;
mod grow;
mod queue_stats;
mod replies;
mod tail;

pub use dead_letters::DeadLetter;
pub use queue_stats::{GroupStats, ShardStats};
pub use tail::TailEntry;

use crate::cluster::connect::connect;
use crate::cluster::connection::Connection;
use crate::cluster::shard_count::{recorded_shards, shards_key};
use crate::error::{Error, Result};
use crate::options::{validate_shards, ConnectionOptions};
use crate::wire::naming::{validate_name, Layout, QueueKeys};
use std::time::Duration;

/// The shard count of a queue that recorded none: the Go ami's default.
pub const DEFAULT_SHARDS: usize = 10;

pub struct Admin {
    connection: Connection,
    keys: QueueKeys,
    recorded: bool,
    /// How long a step waits for a cluster that is still settling.
    patience: Duration,
}

impl Admin {
    /// Connects and settles the shard count and layout: those given (they must match
    /// what the queue recorded, as for its clients), else the recorded ones, else 10
    /// shards in the Go layout.
    pub async fn open(
        name: &str,
        shards: Option<usize>,
        layout: Option<Layout>,
        options: &ConnectionOptions,
    ) -> Result<Self> {
        validate_name("name", name)?;
        if let Some(shards) = shards {
            validate_shards(shards)?;
        }
        options.validate()?;
        let connection = connect(options, options.response_timeout).await?;
        let recorded = recorded_shards(&connection, name).await?;
        let keys = match &recorded {
            Some(theirs) => {
                let layout = layout.unwrap_or(theirs.layout());
                let shards = shards.unwrap_or(theirs.shards());
                if (layout, shards) != (theirs.layout(), theirs.shards()) {
                    let option = if layout == theirs.layout() {
                        "shards"
                    } else {
                        "layout"
                    };
                    return Err(Error::invalid(
                        option,
                        format!(
                            "queue {name:?} records {} in {}, not {}",
                            theirs.describe(),
                            shards_key(name),
                            QueueKeys::new(name, layout, shards).describe()
                        ),
                    ));
                }
                theirs.clone()
            }
            None => QueueKeys::new(
                name,
                layout.unwrap_or_default(),
                shards.unwrap_or(DEFAULT_SHARDS),
            ),
        };
        Ok(Self {
            connection,
            keys,
            recorded: recorded.is_some(),
            patience: options.connect_timeout,
        })
    }

    #[must_use]
    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    #[must_use]
    pub fn shards(&self) -> usize {
        self.keys.shards()
    }

    /// True when the queue left any trace: a recorded shard count, a shard stream or a
    /// dead-letter stream.
    pub async fn exists(&self) -> Result<bool> {
        if self.recorded {
            return Ok(true);
        }
        for shard in 0..self.shards() {
            for key in [self.stream(shard), self.dead_letter_stream(shard)] {
                let found: bool = self
                    .query(&key, "EXISTS", redis::cmd("EXISTS").arg(&key))
                    .await?;
                if found {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn stream(&self, shard: usize) -> String {
        self.keys.stream(shard)
    }

    fn dead_letter_stream(&self, shard: usize) -> String {
        self.keys.dead_letter_stream(shard)
    }

    fn group(&self) -> String {
        self.keys.group()
    }

    /// `cmd` on the master holding `key`, its reply converted to `T`.
    async fn query<T: redis::FromRedisValue>(
        &self,
        key: &str,
        command: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        let mut connection = self.connection.clone();
        let reply = connection
            .command_for(key, cmd.clone())
            .await
            .map_err(|e| Error::server(command, key, &e))?;
        redis::from_redis_value(reply).map_err(|e| Error::Server {
            command,
            key: key.to_owned(),
            code: String::new(),
            detail: format!("unexpected reply: {e}"),
        })
    }
}
