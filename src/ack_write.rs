//! Writing one stream's acks: XACK, then deleting the acked entries, as the Go ami does.

use crate::connection::Connection;
use crate::error::Error;
use crate::retry::{classify, classify_code, Backoff, Disposition};
use redis::{RedisResult, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;

const TRIM_SCRIPT: &str = include_str!("ack_trim.lua");

/// Deletes acked entries either with the trimming script (`ack_trim.lua`) plus XDEL of
/// the few ids it leaves, or with plain XDEL. A server that refuses the script (ACLs
/// without `+eval`, proxies) turns it off for the rest of the consumer's life.
pub struct AckWriter {
    trim: AtomicBool,
}

/// A failed step: the server's code and detail, and what to do about it.
struct Failure {
    code: String,
    detail: String,
    disposition: Disposition,
}

impl AckWriter {
    #[must_use]
    pub fn new(trim: bool) -> Self {
        Self {
            trim: AtomicBool::new(trim),
        }
    }

    /// Acks and deletes `ids` of `stream`, retrying passing errors until `deadline`.
    /// Returns the error that made it give up.
    pub async fn write(
        &self,
        connection: &Connection,
        stream: &str,
        group: &str,
        ids: &[String],
        deadline: Instant,
        on_retry: &(dyn Fn(Error) + Send + Sync),
    ) -> Result<(), Error> {
        let mut backoff = Backoff::default();
        loop {
            let trim = self.trim.load(Ordering::Relaxed);
            let mut connection = connection.clone();
            let written = if trim {
                ack_and_trim(&mut connection, stream, group, ids).await
            } else {
                ack_and_delete(&mut connection, stream, group, ids).await
            };
            let Err(failure) = written else {
                return Ok(());
            };
            if trim && script_refused(&failure.code, &failure.detail) {
                self.trim.store(false, Ordering::Relaxed);
                continue;
            }
            let error = Error::Server {
                command: "XACK",
                key: stream.to_owned(),
                code: failure.code,
                detail: failure.detail,
            };
            let delay = backoff.next_delay();
            if failure.disposition != Disposition::Retry || Instant::now() + delay > deadline {
                return Err(error);
            }
            on_retry(error);
            tokio::time::sleep(delay).await;
        }
    }
}

/// `XACK` and the trimming script in one pipeline, then `XDEL` of the acked ids the
/// trim did not reach (acked out of order, above another entry still pending).
async fn ack_and_trim(
    connection: &mut Connection,
    stream: &str,
    group: &str,
    ids: &[String],
) -> Result<(), Failure> {
    let mut pipe = xack(stream, group, ids);
    pipe.cmd("EVAL")
        .arg(TRIM_SCRIPT)
        .arg(1)
        .arg(stream)
        .arg(group);
    let replies = checked(connection.pipeline_for(stream, pipe, 2).await)?;
    let remaining: Vec<&String> = match replies.get(1) {
        Some(Value::BulkString(bound)) => {
            let bound = id_order(&String::from_utf8_lossy(bound));
            ids.iter().filter(|id| id_order(id) >= bound).collect()
        }
        // No group or stream left to trim: delete as plain XDEL would.
        _ => ids.iter().collect(),
    };
    if remaining.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    pipe.cmd("XDEL").arg(stream).arg(remaining);
    checked(connection.pipeline_for(stream, pipe, 1).await).map(drop)
}

/// Plain `XACK` + `XDEL` in one pipeline, as the Go ami writes them.
async fn ack_and_delete(
    connection: &mut Connection,
    stream: &str,
    group: &str,
    ids: &[String],
) -> Result<(), Failure> {
    let mut pipe = xack(stream, group, ids);
    pipe.cmd("XDEL").arg(stream).arg(ids);
    checked(connection.pipeline_for(stream, pipe, 2).await).map(drop)
}

/// A pipeline that starts with `XACK stream group ids…`.
fn xack(stream: &str, group: &str, ids: &[String]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("XACK").arg(stream).arg(group).arg(ids);
    pipe
}

/// The replies, or the first error among them.
fn checked(replies: RedisResult<Vec<Value>>) -> Result<Vec<Value>, Failure> {
    let replies = replies.map_err(|e| Failure {
        code: e.code().unwrap_or_default().to_owned(),
        detail: e.to_string(),
        disposition: classify(&e),
    })?;
    for reply in &replies {
        if let Value::ServerError(e) = reply {
            return Err(Failure {
                code: e.code().to_owned(),
                detail: e.details().unwrap_or_default().to_owned(),
                disposition: classify_code(e.code()),
            });
        }
    }
    Ok(replies)
}

/// A stream id's place in the stream (`10-0` after `9-0`).
fn id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (
        ms.parse().unwrap_or(u64::MAX),
        seq.parse().unwrap_or(u64::MAX),
    )
}

/// The server will not run the script, or the user may not run a command it calls.
fn script_refused(code: &str, detail: &str) -> bool {
    code == "NOPERM"
        || detail.contains("can't run this command")
        || detail.contains("unknown command")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_value_not_by_text() {
        assert!(id_order("10-0") > id_order("9-0"));
        assert!(id_order("9-10") > id_order("9-9"));
        assert_eq!(id_order("9-1"), (9, 1));
    }

    #[test]
    fn refusals_of_the_script_are_told_from_other_errors() {
        assert!(script_refused(
            "NOPERM",
            "User has no permissions to run 'eval'"
        ));
        assert!(script_refused("ERR", "unknown command 'EVAL'"));
        assert!(script_refused(
            "ERR",
            "The user executing the script can't run this command or subcommand"
        ));
        assert!(!script_refused("NOGROUP", "No such key or consumer group"));
        assert!(!script_refused(
            "OOM",
            "command not allowed when used memory > 'maxmemory'"
        ));
    }
}
