//! A guard against clients of one queue configured with different shard counts or
//! layouts: the first client records both in `qu_NAME_shards`, later ones must match.

use crate::cluster::connection::Connection;
use crate::cluster::older_servers::lacks_syntax;
use crate::cluster::retry::until_deadline;
use crate::cluster::spread_registry::{keep_listed, place};
use crate::error::{Error, Result};
use crate::wire::naming::{Layout, QueueKeys};
use redis::{RedisResult, Value};
use std::time::Duration;
use tokio::time::Instant;

#[must_use]
pub fn shards_key(name: &str) -> String {
    format!("qu_{name}_shards")
}

/// The keys a client of `configured` runs with: those [`check_shards`] settles, or,
/// with the check turned off (`check`), the configured ones on the offset a spread
/// queue recorded for itself, when it recorded one for this count.
pub async fn settle_keys(
    connection: &Connection,
    configured: &QueueKeys,
    check: bool,
    patience: Duration,
) -> Result<QueueKeys> {
    if check {
        return check_shards(connection, configured, patience).await;
    }
    if configured.layout() == Layout::Go {
        return Ok(configured.clone());
    }
    let deadline = Instant::now() + patience;
    let recorded = read_record(connection, configured.name(), deadline).await?;
    Ok(recorded
        .and_then(|value| accept(configured, &value).ok())
        .unwrap_or_else(|| configured.clone()))
}

/// Records the shard count and layout of `keys` if none is recorded yet, else checks
/// them, and returns the queue's keys as recorded: a new spread queue gets its offset
/// from the list of spread queues (see `spread_registry`), and a recorded one runs on
/// the offset its record holds. A cluster still forming (slots not covered yet) is
/// waited for up to `patience`.
pub async fn check_shards(
    connection: &Connection,
    keys: &QueueKeys,
    patience: Duration,
) -> Result<QueueKeys> {
    let deadline = Instant::now() + patience;
    if keys.layout() == Layout::Go {
        return match record_first(connection, keys, deadline).await? {
            Some(value) => accept(keys, &value),
            None => Ok(keys.clone()),
        };
    }
    let recorded = read_record(connection, keys.name(), deadline).await?;
    let ours = if let Some(value) = recorded {
        accept(keys, &value)?
    } else {
        refuse_go_streams(connection, keys).await?;
        let placed = place(connection, keys, deadline).await?;
        match record_first(connection, &placed, deadline).await? {
            Some(value) => accept(keys, &value)?,
            None => placed,
        }
    };
    keep_listed(connection, &ours, deadline).await;
    Ok(ours)
}

/// Writes the record of `keys` unless one is there: the record found, or `None` when
/// this call wrote it.
async fn record_first(
    connection: &Connection,
    keys: &QueueKeys,
    deadline: Instant,
) -> Result<Option<String>> {
    let key = shards_key(keys.name());
    let ours = keys.record();
    let recorded = match set_nx_get(connection, &key, &ours, deadline).await {
        Err(e) if lacks_syntax(&e) => set_nx_then_get(connection, &key, &ours, deadline).await?,
        other => other.map_err(|e| Error::server("SET", key.as_str(), &e))?,
    };
    Ok(recorded.filter(|value| *value != ours))
}

async fn read_record(
    connection: &Connection,
    name: &str,
    deadline: Instant,
) -> Result<Option<String>> {
    let key = shards_key(name);
    until_deadline(deadline, || {
        let mut connection = connection.clone();
        let get = redis::cmd("GET").arg(&key).clone();
        async move { get.query_async(&mut connection).await }
    })
    .await
    .map_err(|e| Error::server("GET", key.as_str(), &e))
}

/// The queue's keys as `value` records them, when its layout and count are those of
/// `keys` (a spread queue's offset is not configured: it is whatever was recorded).
fn accept(keys: &QueueKeys, value: &str) -> Result<QueueKeys> {
    let name = keys.name();
    let (option, theirs) = match QueueKeys::parse_record(name, value) {
        Some(theirs) if theirs.layout() == keys.layout() && theirs.shards() == keys.shards() => {
            return Ok(theirs)
        }
        Some(theirs) if theirs.layout() != keys.layout() => ("layout", theirs.describe()),
        Some(theirs) => ("shards", theirs.describe()),
        None => ("shards", format!("{value:?}")),
    };
    let key = shards_key(name);
    let ours = match keys.layout() {
        Layout::Go => keys.describe(),
        Layout::Spread => format!("shards={} layout=\"spread\"", keys.shards()),
    };
    Err(Error::invalid(
        option,
        format!(
            "queue {name:?} was created with {theirs} (recorded in {key}), not {ours}; every \
             producer and consumer of a queue must use the same count and layout"
        ),
    ))
}

/// A queue without a record whose Go-layout shard 0 exists was written by Go ami
/// clients (they record nothing): a spread client would neither read nor write their
/// streams, so it is refused before it records its layout.
async fn refuse_go_streams(connection: &Connection, keys: &QueueKeys) -> Result<()> {
    let mut connection = connection.clone();
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

/// The keys recorded for queue `name` (layout, shard count, offset), if any client
/// recorded them.
pub async fn recorded_shards(connection: &Connection, name: &str) -> Result<Option<QueueKeys>> {
    let key = shards_key(name);
    let mut connection = connection.clone();
    let recorded: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .map_err(|e| Error::server("GET", key.as_str(), &e))?;
    recorded
        .map(|value| {
            QueueKeys::parse_record(name, &value).ok_or_else(|| {
                Error::invalid(
                    "shards",
                    format!("{key} holds {value:?}, not a shard count and layout"),
                )
            })
        })
        .transpose()
}
