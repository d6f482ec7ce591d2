//! A guard against clients of one queue configured with different shard counts: the
//! first client records the count in `qu_NAME_shards`, later ones must match it.

use crate::connection::Connection;
use crate::error::{Error, Result};

#[must_use]
pub fn shards_key(name: &str) -> String {
    format!("qu_{name}_shards")
}

/// Records `shards` for queue `name` if no count is recorded yet, else checks it.
pub async fn check_shards(connection: &mut Connection, name: &str, shards: usize) -> Result<()> {
    let key = shards_key(name);
    let server_error = |e: redis::RedisError| Error::Server {
        command: "SET",
        key: key.clone(),
        code: e.code().unwrap_or_default().to_owned(),
        detail: e.to_string(),
    };
    let recorded: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(shards)
        .arg("NX")
        .arg("GET")
        .query_async(connection)
        .await
        .map_err(server_error)?;
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
