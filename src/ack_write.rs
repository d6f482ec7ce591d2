//! Writing one stream's acks: XACK, then deleting the acked entries, as the Go ami does.

use crate::connection::Connection;
use crate::error::Error;
use crate::retry::{classify, classify_code, Backoff, Disposition};
use redis::{Pipeline, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;

const TRIM_SCRIPT: &str = include_str!("ack_trim.lua");

/// Writes acks either through the trimming script (`ack_trim.lua`) or as plain
/// `XACK` + `XDEL`. A server that refuses scripts (ACLs without `+eval`, proxies) turns
/// the script off for the rest of the consumer's life.
pub struct AckWriter {
    trim: AtomicBool,
}

impl AckWriter {
    #[must_use]
    pub fn new(trim: bool) -> Self {
        Self {
            trim: AtomicBool::new(trim),
        }
    }

    /// True while acked entries are deleted by the trimming script.
    #[must_use]
    pub fn trims(&self) -> bool {
        self.trim.load(Ordering::Relaxed)
    }

    /// Acks and deletes `ids` (ascending, see [`sort_ids`]) of `stream`, retrying passing
    /// errors until `deadline`. Returns the error that made it give up.
    pub async fn write(
        &self,
        mut connection: Connection,
        stream: &str,
        group: &str,
        ids: &[String],
        deadline: Instant,
        on_retry: &(dyn Fn(Error) + Send + Sync),
    ) -> Result<(), Error> {
        let mut backoff = Backoff::default();
        loop {
            let trim = self.trims();
            let (pipe, count) = if trim {
                (trim_pipeline(stream, group, ids), 1)
            } else {
                (xack_xdel_pipeline(stream, group, ids), 2)
            };
            let (code, detail, disposition) = match connection.pipeline_for(stream, pipe, count).await
            {
                Ok(replies) => match first_server_error(&replies) {
                    None => return Ok(()),
                    Some(e) => {
                        let code = e.code().to_owned();
                        let disposition = classify_code(&code);
                        (code, e.details().unwrap_or_default().to_owned(), disposition)
                    }
                },
                Err(e) => (
                    e.code().unwrap_or_default().to_owned(),
                    e.to_string(),
                    classify(&e),
                ),
            };
            if trim && script_refused(&code, &detail) {
                self.trim.store(false, Ordering::Relaxed);
                continue;
            }
            let error = Error::Server {
                command: "XACK",
                key: stream.to_owned(),
                code,
                detail,
            };
            let delay = backoff.next_delay();
            if disposition != Disposition::Retry || Instant::now() + delay > deadline {
                return Err(error);
            }
            on_retry(error);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Sorts stream ids by value (`10-0` after `9-0`), as the trimming script expects.
pub fn sort_ids(ids: &mut [String]) {
    ids.sort_by_cached_key(|id| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (
            ms.parse::<u64>().unwrap_or(u64::MAX),
            seq.parse::<u64>().unwrap_or(u64::MAX),
        )
    });
}

fn trim_pipeline(stream: &str, group: &str, ids: &[String]) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("EVAL")
        .arg(TRIM_SCRIPT)
        .arg(1)
        .arg(stream)
        .arg(group)
        .arg(ids);
    pipe
}

fn xack_xdel_pipeline(stream: &str, group: &str, ids: &[String]) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("XACK").arg(stream).arg(group).arg(ids);
    pipe.cmd("XDEL").arg(stream).arg(ids);
    pipe
}

fn first_server_error(replies: &[Value]) -> Option<&redis::ServerError> {
    replies.iter().find_map(|reply| match reply {
        Value::ServerError(e) => Some(e),
        _ => None,
    })
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
    fn ids_sort_by_value_not_by_text() {
        let mut ids: Vec<String> = ["10-0", "9-1", "9-0", "9-10"]
            .iter()
            .map(|id| (*id).to_owned())
            .collect();
        sort_ids(&mut ids);
        assert_eq!(ids, ["9-0", "9-1", "9-10", "10-0"]);
    }

    #[test]
    fn refusals_of_the_script_are_told_from_other_errors() {
        assert!(script_refused("NOPERM", "User has no permissions to run 'eval'"));
        assert!(script_refused("ERR", "unknown command 'EVAL'"));
        assert!(script_refused(
            "ERR",
            "The user executing the script can't run this command or subcommand"
        ));
        assert!(!script_refused("NOGROUP", "No such key or consumer group"));
        assert!(!script_refused("OOM", "command not allowed when used memory > 'maxmemory'"));
    }
}
