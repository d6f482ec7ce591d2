//! Delivery reports: one per batch written (or failed), queued for the application.
//!
//! A report holds its batch (bodies and headers) and each message's entry id, and costs
//! nothing per message until the application asks for them. Its messages stay counted as
//! unconfirmed until the application has handled the report, as Kafka's producer counts
//! a message until its delivery report was served: a slow handler fills the buffer and
//! `send` waits, instead of reports piling up without bound, and `flush` returns only
//! once every report was handled.

use crate::error::Error;
use crate::producer::batch::BodyBatch;
use crate::wire::stream_id::StreamId;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::time::Duration;

/// What became of one batch.
#[derive(Debug)]
pub struct Report {
    pub shard: usize,
    pub batch: BodyBatch,
    /// Each message's entry id; `None` for a message that failed.
    pub ids: Vec<Option<StreamId>>,
    pub failed: usize,
    /// Why the failed ones failed (the first error), when some did.
    pub error: Option<Error>,
}

#[derive(Default)]
pub struct Reports {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Report>,
    /// Messages and bytes of the reports handed out and not yet handled.
    handed: (usize, usize),
    closed: bool,
}

impl Reports {
    pub fn push(&self, report: Report) {
        self.state.lock().queue.push_back(report);
        self.ready.notify_all();
    }

    /// The reports queued, waiting up to `timeout` for one; `None` once the writer is
    /// done and every report was taken. Their messages count as handed out until
    /// `handled`.
    pub fn wait(&self, timeout: Duration) -> Option<Vec<Report>> {
        let mut state = self.state.lock();
        if state.queue.is_empty() {
            if state.closed {
                return None;
            }
            self.ready.wait_for(&mut state, timeout);
        }
        let reports: Vec<Report> = state.queue.drain(..).collect();
        for report in &reports {
            state.handed.0 += report.batch.len();
            state.handed.1 += report.batch.byte_len();
        }
        Some(reports)
    }

    /// The reports handed out were handled: returns their messages and bytes, to settle.
    pub fn handled(&self) -> (usize, usize) {
        std::mem::take(&mut self.state.lock().handed)
    }

    /// No more reports will come.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(bodies: usize) -> Report {
        let mut batch = BodyBatch::default();
        for _ in 0..bodies {
            batch.push(b"ab");
        }
        Report {
            shard: 0,
            ids: vec![None; bodies],
            failed: bodies,
            batch,
            error: None,
        }
    }

    #[test]
    fn reports_count_as_handed_out_until_handled() {
        let reports = Reports::default();
        reports.push(report(2));
        reports.push(report(3));
        let taken = reports.wait(Duration::ZERO).unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(reports.handled(), (5, 10));
        assert_eq!(reports.handled(), (0, 0));
        assert!(reports.wait(Duration::ZERO).unwrap().is_empty());
        reports.close();
        assert!(reports.wait(Duration::ZERO).is_none());
    }
}
