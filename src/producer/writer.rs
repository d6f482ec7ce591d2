//! Writes one batch to one shard stream: a pipeline of XADDs, retried within a deadline.

use crate::cluster::connection::Connection;
use crate::cluster::retry::{classify, classify_code, Backoff, Disposition};
use crate::error::Error;
use crate::producer::batch::BodyBatch;
use crate::producer::direct_write::{DirectWrite, DirectWrites};
use crate::stats::ProducerCounters;
use crate::wire::headers::PREFIX;
use crate::wire::pipeline_replies::{error_parts, PipelineReplies};
use crate::wire::stream_id::StreamId;
use crate::wire::xadd_encoding::{encode_wait, encode_xadd_with_headers, encode_xadds};
use std::time::Duration;
use tokio::time::Instant;

/// The XADD of each body in `indices`, as one pipeline for `stream`: field `m`, then a
/// field `h:NAME` per header.
#[must_use]
pub fn xadd_pipeline(stream: &str, batch: &BodyBatch, indices: &[usize]) -> redis::Pipeline {
    let mut pipe = redis::Pipeline::with_capacity(indices.len());
    for &i in indices {
        let command = pipe
            .cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("m")
            .arg(batch.get(i));
        for (name, value) in batch.header_pairs(i) {
            command.arg([PREFIX, name].concat()).arg(value);
        }
    }
    pipe
}

/// Appends the XADDs of `indices` to `out`, as the direct path sends them.
pub fn encode_batch(out: &mut Vec<u8>, stream: &str, batch: &BodyBatch, indices: &[usize]) {
    if !batch.has_headers() {
        let bodies = indices.iter().map(|&i| batch.get(i));
        encode_xadds(out, stream, bodies, batch.byte_len());
        return;
    }
    out.reserve(indices.len() * (40 + stream.len()) + batch.byte_len());
    let mut cursor = 0;
    for &i in indices {
        match batch.headers_after(i, &mut cursor) {
            Some((count, packed)) => {
                encode_xadd_with_headers(out, stream, batch.get(i), count, packed);
            }
            None => encode_xadds(out, stream, std::iter::once(batch.get(i)), 0),
        }
    }
}

/// The outcome of writing a batch: how many made it, and why the rest did not.
#[derive(Debug)]
pub struct Written {
    pub confirmed: usize,
    pub failed: usize,
    pub error: Option<Error>,
    /// With `BatchWriter::ids`, each message's entry id; `None` for those that failed.
    pub ids: Option<Vec<Option<StreamId>>>,
}

pub struct BatchWriter<'a> {
    pub connection: Connection,
    /// Writes on connections of its own when the seeds allow it (see `direct_write`).
    pub direct: Option<&'a DirectWrites>,
    /// The longest wait for the replies to one attempt.
    pub response_timeout: Duration,
    pub stream: &'a str,
    pub deadline: Instant,
    pub counters: &'a ProducerCounters,
    /// Called with each failed attempt that will be retried.
    pub on_retry: &'a (dyn Fn(Error) + Send + Sync),
    /// `WAIT replicas timeout` after the XADDs: a batch counts as written only once
    /// that many replicas have it.
    pub wait: Option<(usize, Duration)>,
    /// Keep the entry id of every message written, for delivery reports.
    pub ids: bool,
}

impl BatchWriter<'_> {
    /// Writes every body of `batch`. Entries the server refused for a passing reason
    /// are re-sent alone; a reply lost to a timeout re-sends the whole remainder, so a
    /// retried batch can produce duplicates (at-least-once).
    pub async fn write(mut self, batch: &BodyBatch) -> Written {
        let mut remaining: Vec<usize> = (0..batch.len()).collect();
        let mut failed = 0;
        let mut first_error = None;
        let mut backoff = Backoff::default();
        let mut ids = self.ids.then(|| vec![None; batch.len()]);
        loop {
            let outcome = match self.attempt(batch, &remaining).await {
                Ok(replies) => {
                    if let (Some(ids), Some(written)) = (&mut ids, &replies.ids) {
                        for &(position, id) in written {
                            if let Some(&index) = remaining.get(position) {
                                ids[index] = Some(id);
                            }
                        }
                    }
                    match self.short_of_replicas(&replies, remaining.len()) {
                        Some(error) => Outcome::whole(remaining, Disposition::Retry, error),
                        None => self.sort_replies(&remaining, &replies),
                    }
                }
                Err((disposition, error)) => Outcome::whole(remaining, disposition, error),
            };
            failed += outcome.fatal.len();
            forget(&mut ids, &outcome.fatal);
            first_error = first_error.or(outcome.fatal_error);
            let Some(retry_error) = outcome.retry_error else {
                return Written {
                    confirmed: batch.len() - failed,
                    failed,
                    error: first_error,
                    ids,
                };
            };
            let delay = backoff.next_delay();
            if Instant::now() + delay > self.deadline {
                failed += outcome.retry.len();
                forget(&mut ids, &outcome.retry);
                let error = first_error.or(Some(retry_error));
                return Written {
                    confirmed: batch.len() - failed,
                    failed,
                    error,
                    ids,
                };
            }
            self.counters.retried.add(outcome.retry.len() as u64);
            (self.on_retry)(retry_error);
            tokio::time::sleep(delay).await;
            remaining = outcome.retry;
        }
    }

    /// One attempt at the XADDs of `indices` (and the WAIT): directly when the direct
    /// path can take it, else through redis-rs. The error says whether to retry.
    async fn attempt(
        &mut self,
        batch: &BodyBatch,
        indices: &[usize],
    ) -> Result<PipelineReplies, (Disposition, Error)> {
        let count = indices.len() + usize::from(self.wait.is_some());
        if let Some(direct) = self.direct {
            let timeout = self
                .response_timeout
                .min(self.deadline.saturating_duration_since(Instant::now()));
            let encode = |out: &mut Vec<u8>| {
                encode_batch(out, self.stream, batch, indices);
                if let Some((replicas, timeout)) = self.wait {
                    encode_wait(out, replicas, timeout.as_millis() as u64);
                }
            };
            match direct
                .write(self.stream, count, self.ids, timeout, encode)
                .await
            {
                DirectWrite::Answered(replies) => return Ok(replies),
                DirectWrite::Lost(e) => {
                    let error = self.error("", &format!("reply lost: {e}"));
                    return Err((Disposition::Retry, error));
                }
                DirectWrite::Unavailable => {}
            }
        }
        let mut pipe = xadd_pipeline(self.stream, batch, indices);
        if let Some((replicas, timeout)) = self.wait {
            pipe.cmd("WAIT")
                .arg(replicas)
                .arg(timeout.as_millis() as u64);
        }
        match self.connection.pipeline_for(self.stream, pipe, count).await {
            Ok(values) => Ok(PipelineReplies::from_values(&values, self.ids)),
            Err(e) => Err((classify(&e), self.error("", &e.to_string()))),
        }
    }

    /// Checks the WAIT reply after the `sent` XADDs; an error when fewer replicas than
    /// asked have the batch (then all of it is sent again: the copies on the master are
    /// duplicates).
    fn short_of_replicas(&self, replies: &PipelineReplies, sent: usize) -> Option<Error> {
        let (wanted, _) = self.wait?;
        match replies.integer_at(sent) {
            Some(acked) if usize::try_from(acked).is_ok_and(|a| a >= wanted) => None,
            Some(acked) => Some(self.error(
                "NOREPLICAS",
                &format!("WAIT: {acked} of {wanted} replicas acknowledged the batch"),
            )),
            None => {
                let error = replies.errors.iter().find(|(at, _)| *at == sent);
                let reply = error.map_or("none", |(_, text)| text.as_str());
                Some(self.error("", &format!("unexpected WAIT reply: {reply}")))
            }
        }
    }

    /// Splits replies into entries to retry and entries that failed for good.
    fn sort_replies(&self, sent: &[usize], replies: &PipelineReplies) -> Outcome {
        let mut outcome = Outcome::default();
        for (position, text) in &replies.errors {
            let Some(&index) = sent.get(*position) else {
                continue;
            };
            let (code, detail) = error_parts(text);
            outcome.add(index, classify_code(code), self.error(code, detail));
        }
        for &index in &sent[replies.seen.min(sent.len())..] {
            outcome.add(
                index,
                Disposition::Retry,
                self.error("", "short pipeline reply"),
            );
        }
        outcome
    }

    fn error(&self, code: &str, detail: &str) -> Error {
        Error::Server {
            command: "XADD",
            key: self.stream.to_owned(),
            code: code.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// Messages that failed (or that a retry may have written elsewhere) have no id to report.
fn forget(ids: &mut Option<Vec<Option<StreamId>>>, indices: &[usize]) {
    if let Some(ids) = ids {
        for &index in indices {
            ids[index] = None;
        }
    }
}

/// What one attempt left to do.
#[derive(Default)]
struct Outcome {
    retry: Vec<usize>,
    retry_error: Option<Error>,
    fatal: Vec<usize>,
    fatal_error: Option<Error>,
}

impl Outcome {
    fn whole(indices: Vec<usize>, disposition: Disposition, error: Error) -> Self {
        if disposition == Disposition::Retry {
            Outcome {
                retry: indices,
                retry_error: Some(error),
                ..Outcome::default()
            }
        } else {
            Outcome {
                fatal: indices,
                fatal_error: Some(error),
                ..Outcome::default()
            }
        }
    }

    fn add(&mut self, index: usize, disposition: Disposition, error: Error) {
        if disposition == Disposition::Retry {
            self.retry.push(index);
            self.retry_error.get_or_insert(error);
        } else {
            self.fatal.push(index);
            self.fatal_error.get_or_insert(error);
        }
    }
}
