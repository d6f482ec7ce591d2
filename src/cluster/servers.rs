//! Which server holds each shard stream, and whether it is new enough, from `INFO server`.
//! ami needs Redis 6.2: claims (`XPENDING … IDLE`), trimming acks (`XTRIM … MINID`) and
//! the lag count (exclusive `XRANGE` ranges) came with it. What 7.0 added is tried, with
//! a fallback (`older_servers.rs`). Valkey reports a `redis_version` of 7.2, so one check
//! covers both.

use crate::cluster::connection::Connection;
use crate::cluster::retry::until_deadline;
use crate::error::{Error, Result};
use redis::{RedisResult, Value};
use tokio::time::{Duration, Instant};

pub const MINIMUM_VERSION: (u32, u32) = (6, 2);

/// The server holding each of `streams` (its `run_id`), refusing one below
/// [`MINIMUM_VERSION`]; retries passing cluster errors until `patience`. `None` when the
/// user may not run `INFO`: such servers are neither told apart nor checked.
pub async fn survey(
    connection: &Connection,
    streams: &[String],
    patience: Duration,
) -> Result<Vec<Option<String>>> {
    let deadline = Instant::now() + patience;
    let mut holders = Vec::with_capacity(streams.len());
    for stream in streams {
        let info = until_deadline(deadline, || {
            let mut connection = connection.clone();
            async move { server_info(&mut connection, stream).await }
        })
        .await;
        let info = match info {
            Ok(info) => info,
            Err(e) if e.code() == Some("NOPERM") => return Ok(vec![None; streams.len()]),
            Err(e) => return Err(Error::server("INFO", stream.as_str(), &e)),
        };
        if let Some(version) = field(&info, "redis_version") {
            if parse_version(version).is_some_and(|found| found < MINIMUM_VERSION) {
                return Err(Error::UnsupportedServer {
                    key: stream.clone(),
                    version: version.to_owned(),
                    needs: format!("{}.{}", MINIMUM_VERSION.0, MINIMUM_VERSION.1),
                });
            }
        }
        holders.push(field(&info, "run_id").map(str::to_owned));
    }
    Ok(holders)
}

/// The server holding each of `streams` now, or `None` if any could not be asked.
pub async fn holders(connection: &Connection, streams: &[String]) -> Option<Vec<String>> {
    let mut holders = Vec::with_capacity(streams.len());
    for stream in streams {
        let info = server_info(&mut connection.clone(), stream).await.ok()?;
        holders.push(field(&info, "run_id")?.to_owned());
    }
    Some(holders)
}

/// `INFO server` of the master holding `key`.
async fn server_info(connection: &mut Connection, key: &str) -> RedisResult<String> {
    let mut pipe = redis::pipe();
    pipe.cmd("INFO").arg("server");
    let reply = connection.pipeline_for(key, pipe, 1).await?.pop();
    match reply {
        Some(Value::BulkString(text)) => Ok(String::from_utf8_lossy(&text).into_owned()),
        Some(Value::VerbatimString { text, .. }) => Ok(text),
        Some(Value::ServerError(e)) => Err(e.into()),
        other => Err(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "unexpected INFO reply",
            format!("{other:?}"),
        ))),
    }
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}

/// `"7.0.15"` as `(7, 0)`.
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.').map(str::parse::<u32>);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_info_and_compared_by_number() {
        let info =
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.8\r\n";
        assert_eq!(field(info, "redis_version"), Some("7.2.4"));
        assert_eq!(parse_version("7.2.4"), Some((7, 2)));
        assert_eq!(parse_version("10.0.1"), Some((10, 0)));
        assert!(parse_version("6.0.20").unwrap() < MINIMUM_VERSION);
        assert!(parse_version("6.2.0").unwrap() >= MINIMUM_VERSION);
        assert_eq!(parse_version("unstable"), None);
    }
}
