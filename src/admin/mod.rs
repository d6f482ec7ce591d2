//! Operations on a queue from outside its producers and consumers: what `ami.inspect`,
//! `ami.DeadLetters` and the `ami` command line do, over the clients' own connections
//! (seeds, TLS, ACL user), so an operator reaches every cluster the clients reach.

mod dead_letters;
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
use crate::wire::naming::{dead_letter_stream_name, group_name, stream_name, validate_name};

/// The shard count of a queue that recorded none: the Go ami's default.
pub const DEFAULT_SHARDS: usize = 10;

pub struct Admin {
    connection: Connection,
    name: String,
    shards: usize,
    recorded: Option<usize>,
}

impl Admin {
    /// Connects and settles the shard count: `shards` if given (it must match the count
    /// the queue recorded, as for its clients), else the recorded one, else 10.
    pub async fn open(
        name: &str,
        shards: Option<usize>,
        options: &ConnectionOptions,
    ) -> Result<Self> {
        validate_name("name", name)?;
        if let Some(shards) = shards {
            validate_shards(shards)?;
        }
        options.validate()?;
        let connection = connect(options, options.response_timeout).await?;
        let recorded = recorded_shards(&connection, name).await?;
        if let (Some(given), Some(recorded)) = (shards, recorded) {
            if given != recorded {
                return Err(Error::invalid(
                    "shards",
                    format!(
                        "queue {name:?} records shards={recorded} in {}, not {given}",
                        shards_key(name)
                    ),
                ));
            }
        }
        Ok(Self {
            connection,
            name: name.to_owned(),
            shards: shards.or(recorded).unwrap_or(DEFAULT_SHARDS),
            recorded,
        })
    }

    #[must_use]
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// True when the queue left any trace: a recorded shard count, a shard stream or a
    /// dead-letter stream.
    pub async fn exists(&self) -> Result<bool> {
        if self.recorded.is_some() {
            return Ok(true);
        }
        for shard in 0..self.shards {
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
        stream_name(&self.name, shard)
    }

    fn dead_letter_stream(&self, shard: usize) -> String {
        dead_letter_stream_name(&self.name, shard)
    }

    fn group(&self) -> String {
        group_name(&self.name)
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
