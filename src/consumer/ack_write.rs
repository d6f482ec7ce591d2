//! Writing one stream's acks: XACK, then deleting the acked entries, as the Go ami does.

use crate::cluster::connection::Connection;
use crate::cluster::retry::{classify, classify_code, script_refused, Backoff, Disposition};
use crate::consumer::ack::Acked;
use crate::consumer::delivery::Place;
use crate::error::Error;
use crate::wire::stream_id::StreamId;
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
        acked: &[Acked],
        deadline: Instant,
        on_retry: &(dyn Fn(Error) + Send + Sync),
    ) -> Result<(), Error> {
        let mut backoff = Backoff::default();
        let runs = Runs::of(acked);
        loop {
            let trim = self.trim.load(Ordering::Relaxed);
            let mut connection = connection.clone();
            let written = if trim {
                ack_and_trim(&mut connection, stream, group, &runs).await
            } else {
                ack_and_delete(&mut connection, stream, group, &runs.ids).await
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

/// The acked ids in id order, cut where one read's run of adjacent entries ends.
struct Runs<'a> {
    ids: Vec<&'a str>,
    /// Lengths of the runs, comma-separated, as `ack_trim.lua` takes them.
    lengths: String,
}

impl<'a> Runs<'a> {
    fn of(acked: &'a [Acked]) -> Self {
        let mut sorted: Vec<(Option<StreamId>, &Acked)> = acked
            .iter()
            .map(|acked| (StreamId::parse(&acked.id), acked))
            .collect();
        // Ids the server would not write sort last; they only ever reach XDEL.
        sorted.sort_by_key(|(id, _)| (id.is_none(), *id));
        sorted.dedup_by(|(a, _), (b, _)| a.is_some() && a == b);
        let mut lengths: Vec<usize> = Vec::new();
        let mut previous: Option<Place> = None;
        for (_, acked) in &sorted {
            match (previous, lengths.last_mut()) {
                (Some(before), Some(length)) if acked.place.follows(before) => *length += 1,
                _ => lengths.push(1),
            }
            previous = Some(acked.place);
        }
        Self {
            ids: sorted.iter().map(|(_, acked)| acked.id.as_str()).collect(),
            lengths: lengths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// `XACK` and the trimming script (which deletes exactly the acked ids) in one pipeline.
async fn ack_and_trim(
    connection: &mut Connection,
    stream: &str,
    group: &str,
    runs: &Runs<'_>,
) -> Result<(), Failure> {
    let mut pipe = xack(stream, group, &runs.ids);
    pipe.cmd("EVAL")
        .arg(TRIM_SCRIPT)
        .arg(1)
        .arg(stream)
        .arg(&runs.lengths)
        .arg(&runs.ids);
    checked(connection.pipeline_for(stream, pipe, 2).await).map(drop)
}

/// Plain `XACK` + `XDEL` in one pipeline, as the Go ami writes them.
async fn ack_and_delete(
    connection: &mut Connection,
    stream: &str,
    group: &str,
    ids: &[&str],
) -> Result<(), Failure> {
    let mut pipe = xack(stream, group, ids);
    pipe.cmd("XDEL").arg(stream).arg(ids);
    checked(connection.pipeline_for(stream, pipe, 2).await).map(drop)
}

/// A pipeline that starts with `XACK stream group ids…`.
fn xack(stream: &str, group: &str, ids: &[&str]) -> redis::Pipeline {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(id: &str, run: u64, index: u32) -> Acked {
        Acked {
            id: id.to_owned(),
            place: Place { run, index },
        }
    }

    #[test]
    fn runs_follow_reads_in_id_order() {
        let batch = [
            acked("10-0", 2, 0),
            acked("3-0", 1, 1),
            acked("2-0", 1, 0),
            acked("4-0", 1, 3), // 1:2 was not acked: a new run
            acked("11-0", 2, 1),
            acked("11-0", 2, 1),
            Acked::unplaced("12-0".to_owned()),
        ];
        let runs = Runs::of(&batch);
        assert_eq!(runs.ids, ["2-0", "3-0", "4-0", "10-0", "11-0", "12-0"]);
        assert_eq!(runs.lengths, "2,1,2,1");
    }
}
