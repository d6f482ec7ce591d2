//! A guard against clients of one queue configured with different shard counts: the
//! first client records the count in `qu_NAME_shards`, later ones must match it.

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::retry::{classify, Backoff, Disposition};
use std::time::Duration;
use tokio::time::Instant;

#[must_use]
pub fn shards_key(name: &str) -> String {
    format!("qu_{name}_shards")
}

/// Records `shards` for queue `name` if no count is recorded yet, else checks it.
/// A cluster still forming (slots not covered yet) is waited for up to `patience`.
pub async fn check_shards(
    connection: &mut Connection,
    name: &str,
    shards: usize,
    patience: Duration,
) -> Result<()> {
    let key = shards_key(name);
    let deadline = Instant::now() + patience;
    let mut backoff = Backoff::default();
    let recorded: Option<String> = loop {
        let reply = redis::cmd("SET")
            .arg(&key)
            .arg(shards)
            .arg("NX")
            .arg("GET")
            .query_async(connection)
            .await;
        match reply {
            Ok(recorded) => break recorded,
            Err(e) if classify(&e) == Disposition::Retry && Instant::now() < deadline => {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => {
                return Err(Error::Server {
                    command: "SET",
                    key,
                    code: e.code().unwrap_or_default().to_owned(),
                    detail: e.to_string(),
                })
            }
        }
    };
    match recorded {
        None => Ok(()),
        Some(value) if value == shards.to_string() => Ok(()),
        Some(value) => Err(Error::invalid(
            "shards",
            format!(
                "queue {name:?} was created with shards={value} (recorded in {key}), not {shards}; \
                 every producer and consumer of a queue must use the same count"
            ),
        )),
    }
}
