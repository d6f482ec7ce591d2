//! Writing one stream's acks: XACK, then deleting the acked entries, as the Go ami does.

use crate::connection::Connection;
use crate::error::Error;
use crate::retry::{classify, classify_code, script_refused, Backoff, Disposition};
use redis::{RedisResult, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;

const TRIM_SCRIPT: &str = include_str!("ack_trim.lua");

/// Deletes acked entries either with the trimming script (`ack_trim.lua`: one XTRIM for
/// the acked head of the stream, XDEL for the rest), or with plain XDEL. A server that
/// refuses the script (ACLs without `+eval`, proxies) turns it off for the rest of the
/// consumer's life.
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

/// `XACK` and the trimming script (which deletes exactly `ids`) in one pipeline.
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
        .arg(ids);
    checked(connection.pipeline_for(stream, pipe, 2).await).map(drop)
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
