//! A guard against clients of one queue configured with different shard counts or
//! layouts: the first client records both in `qu_NAME_shards`, later ones must match.

use crate::cluster::connection::Connection;
use crate::cluster::older_servers::lacks_syntax;
use crate::cluster::retry::until_deadline;
use crate::error::{Error, Result};
use crate::wire::naming::{Layout, QueueKeys};
use redis::{RedisResult, Value};
use std::time::Duration;
use tokio::time::Instant;

#[must_use]
pub fn shards_key(name: &str) -> String {
    format!("qu_{name}_shards")
}

/// Records the shard count and layout of `keys` if none is recorded yet, else checks
/// them. A cluster still forming (slots not covered yet) is waited for up to `patience`.
pub async fn check_shards(
    connection: &Connection,
    keys: &QueueKeys,
    patience: Duration,
) -> Result<()> {
    let name = keys.name();
    let key = shards_key(name);
    let ours = keys.record();
    let deadline = Instant::now() + patience;
    if keys.layout() == Layout::Spread {
        refuse_go_streams(connection, keys).await?;
    }
    let recorded = match set_nx_get(connection, &key, &ours, deadline).await {
        Err(e) if lacks_syntax(&e) => set_nx_then_get(connection, &key, &ours, deadline).await?,
        other => other.map_err(|e| Error::server("SET", key.as_str(), &e))?,
    };
    let Some(value) = recorded.filter(|value| *value != ours) else {
        return Ok(());
    };
    let (option, theirs) = match QueueKeys::parse_record(&value) {
        Some((layout, shards)) if layout != keys.layout() => {
            ("layout", QueueKeys::new(name, layout, shards).describe())
        }
        Some((layout, shards)) => ("shards", QueueKeys::new(name, layout, shards).describe()),
        None => ("shards", format!("{value:?}")),
    };
    Err(Error::invalid(
        option,
        format!(
            "queue {name:?} was created with {theirs} (recorded in {key}), not {}; every \
             producer and consumer of a queue must use the same count and layout",
            keys.describe()
        ),
    ))
}

/// A queue without a record whose Go-layout shard 0 exists was written by Go ami
/// clients (they record nothing): a spread client would neither read nor write their
/// streams, so it is refused before it records its layout.
async fn refuse_go_streams(connection: &Connection, keys: &QueueKeys) -> Result<()> {
    let key = shards_key(keys.name());
    let mut connection = connection.clone();
    let recorded: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .map_err(|e| Error::server("GET", key.as_str(), &e))?;
    if recorded.is_some() {
        return Ok(());
    }
    // `GET` rather than `EXISTS`: the clients' least-privilege ACLs allow it, and on a
    // stream it answers WRONGTYPE, which says that the stream is there.
    let go_stream = QueueKeys::new(keys.name(), Layout::Go, 1).stream(0);
    let found: redis::RedisResult<Value> = redis::cmd("GET")
        .arg(&go_stream)
        .query_async(&mut connection)
        .await;
    let exists = match found {
        Ok(value) => value != Value::Nil,
        Err(e) if e.code() == Some("WRONGTYPE") => true,
        Err(e) => return Err(Error::server("GET", go_stream.as_str(), &e)),
    };
    if !exists {
        return Ok(());
    }
    Err(Error::invalid(
        "layout",
        format!(
            "queue {:?} has Go-layout streams ({go_stream}) and no recorded layout: Go ami \
             clients use it, and they know only layout=\"go\"",
            keys.name()
        ),
    ))
}

/// `SET key record NX GET`: the record written before, or `None` when this call recorded
/// it. A retry after a lost reply reads what the lost attempt wrote, which is `record`.
async fn set_nx_get(
    connection: &Connection,
    key: &str,
    record: &str,
    deadline: Instant,
) -> RedisResult<Option<String>> {
    let set = redis::cmd("SET")
        .arg(key)
        .arg(record)
        .arg("NX")
        .arg("GET")
        .clone();
    until_deadline(deadline, || {
        let mut connection = connection.clone();
        let set = set.clone();
        async move { set.query_async(&mut connection).await }
    })
    .await
}

/// The answer of [`set_nx_get`] from servers that refuse `NX` with `GET` (before Redis
/// 7.0): `SET NX`, then `GET` when a count was there. Of clients racing to record, the
/// losers read the winner's count. A count gone between the two steps (deleted by hand,
/// or lost in a failover) is recorded again, until `deadline`.
async fn set_nx_then_get(
    connection: &Connection,
    key: &str,
    record: &str,
    deadline: Instant,
) -> Result<Option<String>> {
    let set = redis::cmd("SET").arg(key).arg(record).arg("NX").clone();
    let get = redis::cmd("GET").arg(key).clone();
    loop {
        let written: Value = until_deadline(deadline, || {
            let mut connection = connection.clone();
            let set = set.clone();
            async move { set.query_async(&mut connection).await }
        })
        .await
        .map_err(|e| Error::server("SET", key, &e))?;
        if written != Value::Nil {
            return Ok(None);
        }
        let recorded: Option<String> = until_deadline(deadline, || {
            let mut connection = connection.clone();
            let get = get.clone();
            async move { get.query_async(&mut connection).await }
        })
        .await
        .map_err(|e| Error::server("GET", key, &e))?;
        if recorded.is_some() {
            return Ok(recorded);
        }
        if Instant::now() >= deadline {
            return Err(Error::Server {
                command: "GET",
                key: key.to_owned(),
                code: String::new(),
                detail: "the count was deleted after every SET NX until the deadline".to_owned(),
            });
        }
    }
}

/// The layout and shard count recorded for queue `name`, if any client recorded them.
pub async fn recorded_shards(
    connection: &Connection,
    name: &str,
) -> Result<Option<(Layout, usize)>> {
    let key = shards_key(name);
    let mut connection = connection.clone();
    let recorded: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .map_err(|e| Error::server("GET", key.as_str(), &e))?;
    recorded
        .map(|value| {
            QueueKeys::parse_record(&value).ok_or_else(|| {
                Error::invalid(
                    "shards",
                    format!("{key} holds {value:?}, not a shard count and layout"),
                )
            })
        })
        .transpose()
}
