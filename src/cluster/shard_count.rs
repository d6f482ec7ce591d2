//! A guard against clients of one queue configured with different shard counts: the
//! first client records the count in `qu_NAME_shards`, later ones must match it.

use crate::cluster::connection::Connection;
use crate::cluster::retry::until_deadline;
use crate::error::{Error, Result};
use std::time::Duration;
use tokio::time::Instant;

#[must_use]
pub fn shards_key(name: &str) -> String {
    format!("qu_{name}_shards")
}

/// Records `shards` for queue `name` if no count is recorded yet, else checks it.
/// A cluster still forming (slots not covered yet) is waited for up to `patience`.
pub async fn check_shards(
    connection: &Connection,
    name: &str,
    shards: usize,
    patience: Duration,
) -> Result<()> {
    let key = shards_key(name);
    let recorded: Option<String> = until_deadline(Instant::now() + patience, || {
        let mut connection = connection.clone();
        let set = redis::cmd("SET")
            .arg(&key)
            .arg(shards)
            .arg("NX")
            .arg("GET")
            .clone();
        async move { set.query_async(&mut connection).await }
    })
    .await
    .map_err(|e| Error::server("SET", key.as_str(), &e))?;
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

/// The shard count recorded for queue `name`, if any client recorded one.
pub async fn recorded_shards(connection: &Connection, name: &str) -> Result<Option<usize>> {
    let key = shards_key(name);
    let mut connection = connection.clone();
    let recorded: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .map_err(|e| Error::server("GET", key.as_str(), &e))?;
    recorded
        .map(|value| {
            value.parse().map_err(|_| {
                Error::invalid(
                    "shards",
                    format!("{key} holds {value:?}, not a shard count"),
                )
            })
        })
        .transpose()
}
