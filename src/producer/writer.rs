//! Writes one batch to one shard stream: a pipeline of XADDs, retried within a deadline.

use crate::cluster::connection::Connection;
use crate::cluster::retry::{classify, classify_code, Backoff, Disposition};
use crate::error::Error;
use crate::producer::batch::BodyBatch;
use crate::stats::ProducerCounters;
use redis::Value;
use std::time::Duration;
use tokio::time::Instant;

/// The XADD of each body in `indices`, as one pipeline for `stream`.
#[must_use]
pub fn xadd_pipeline(stream: &str, batch: &BodyBatch, indices: &[usize]) -> redis::Pipeline {
    let mut pipe = redis::Pipeline::with_capacity(indices.len());
    for &i in indices {
        pipe.cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("m")
            .arg(batch.get(i));
    }
    pipe
}

/// The outcome of writing a batch: how many made it, and why the rest did not.
#[derive(Debug)]
pub struct Written {
    pub confirmed: usize,
    pub failed: usize,
    pub error: Option<Error>,
}

pub struct BatchWriter<'a> {
    pub connection: Connection,
    pub stream: &'a str,
    pub deadline: Instant,
    pub counters: &'a ProducerCounters,
    /// Called with each failed attempt that will be retried.
    pub on_retry: &'a (dyn Fn(Error) + Send + Sync),
    /// `WAIT replicas timeout` after the XADDs: a batch counts as written only once
    /// that many replicas have it.
    pub wait: Option<(usize, Duration)>,
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
        loop {
            let mut pipe = xadd_pipeline(self.stream, batch, &remaining);
            if let Some((replicas, timeout)) = self.wait {
                pipe.cmd("WAIT")
                    .arg(replicas)
                    .arg(timeout.as_millis() as u64);
            }
            let count = remaining.len() + usize::from(self.wait.is_some());
            let attempt = self.connection.pipeline_for(self.stream, pipe, count).await;
            let outcome = match attempt {
                Ok(mut replies) => match self.short_of_replicas(&mut replies) {
                    Some(error) => Outcome::whole(remaining, Disposition::Retry, error),
                    None => self.sort_replies(&remaining, &replies),
                },
                Err(e) => Outcome::whole(remaining, classify(&e), self.error("", &e.to_string())),
            };
            failed += outcome.fatal;
            first_error = first_error.or(outcome.fatal_error);
            let Some(retry_error) = outcome.retry_error else {
                return Written {
                    confirmed: batch.len() - failed,
                    failed,
                    error: first_error,
                };
            };
            let delay = backoff.next_delay();
            if Instant::now() + delay > self.deadline {
                failed += outcome.retry.len();
                let error = first_error.or(Some(retry_error));
                return Written {
                    confirmed: batch.len() - failed,
                    failed,
                    error,
                };
            }
            self.counters.retried.add(outcome.retry.len() as u64);
            (self.on_retry)(retry_error);
            tokio::time::sleep(delay).await;
            remaining = outcome.retry;
        }
    }

    /// Takes the WAIT reply off the end; an error when fewer replicas than asked have
    /// the batch (then all of it is sent again: the copies on the master are duplicates).
    fn short_of_replicas(&self, replies: &mut Vec<Value>) -> Option<Error> {
        let (wanted, _) = self.wait?;
        match replies.pop() {
            Some(Value::Int(acked)) if usize::try_from(acked).is_ok_and(|a| a >= wanted) => None,
            Some(Value::Int(acked)) => Some(self.error(
                "NOREPLICAS",
                &format!("WAIT: {acked} of {wanted} replicas acknowledged the batch"),
            )),
            other => Some(self.error("", &format!("unexpected WAIT reply {other:?}"))),
        }
    }

    /// Splits replies into entries to retry and entries that failed for good.
    fn sort_replies(&self, sent: &[usize], replies: &[Value]) -> Outcome {
        let mut outcome = Outcome::default();
        for (&index, reply) in sent.iter().zip(replies) {
            if let Value::ServerError(e) = reply {
                let error = self.error(e.code(), e.details().unwrap_or_default());
                outcome.add(index, classify_code(e.code()), error);
            }
        }
        for &index in &sent[replies.len().min(sent.len())..] {
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

/// What one attempt left to do.
#[derive(Default)]
struct Outcome {
    retry: Vec<usize>,
    retry_error: Option<Error>,
    fatal: usize,
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
                fatal: indices.len(),
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
            self.fatal += 1;
            self.fatal_error.get_or_insert(error);
        }
    }
}
