//! How background failures reach the user: a bounded queue for `on_error`, and a tally
//! of undelivered messages that the next `flush`/`close` raises.

use crate::error::Error;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::time::Duration;

/// Notices kept for `on_error` before the oldest are dropped (and counted).
const QUEUE_LIMIT: usize = 10_000;

#[derive(Default)]
pub struct Notices {
    queue: Mutex<NoticeQueue>,
    arrived: Condvar,
    undelivered: Mutex<Option<(u64, String)>>,
}

#[derive(Default)]
struct NoticeQueue {
    errors: VecDeque<Error>,
    dropped: u64,
    closed: bool,
}

impl Notices {
    /// Records a background error for `on_error`.
    pub fn report(&self, error: Error) {
        let mut queue = self.queue.lock();
        if queue.errors.len() >= QUEUE_LIMIT {
            queue.errors.pop_front();
            queue.dropped += 1;
        }
        queue.errors.push_back(error);
        self.arrived.notify_all();
    }

    /// Records messages that will never be written, and reports why.
    pub fn undelivered(&self, count: u64, error: &Error) {
        let mut tally = self.undelivered.lock();
        let total = tally.as_ref().map_or(0, |(n, _)| *n) + count;
        *tally = Some((total, error.to_string()));
        drop(tally);
        self.report(Error::Delivery {
            failed: count,
            detail: error.to_string(),
        });
    }

    /// The undelivered tally since the last call, as the error `flush`/`close` raise.
    pub fn take_undelivered(&self) -> Option<Error> {
        self.undelivered
            .lock()
            .take()
            .map(|(failed, detail)| Error::Delivery { failed, detail })
    }

    /// Waits up to `timeout` for errors; returns them and how many were dropped.
    /// Returns `None` once closed and drained.
    pub fn wait(&self, timeout: Duration) -> Option<(Vec<Error>, u64)> {
        let mut queue = self.queue.lock();
        if queue.errors.is_empty() && !queue.closed {
            self.arrived.wait_for(&mut queue, timeout);
        }
        if queue.errors.is_empty() && queue.closed {
            return None;
        }
        let dropped = std::mem::take(&mut queue.dropped);
        Some((queue.errors.drain(..).collect(), dropped))
    }

    /// Ends `wait` for good once the queue is drained.
    pub fn close(&self) {
        self.queue.lock().closed = true;
        self.arrived.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undelivered_counts_add_up_until_taken() {
        let notices = Notices::default();
        let cause = Error::Closed { what: "x" };
        notices.undelivered(2, &cause);
        notices.undelivered(3, &cause);
        assert!(matches!(
            notices.take_undelivered(),
            Some(Error::Delivery { failed: 5, .. })
        ));
        assert!(notices.take_undelivered().is_none());
        let (errors, dropped) = notices.wait(Duration::ZERO).unwrap();
        assert_eq!((errors.len(), dropped), (2, 0));
        notices.close();
        assert!(notices.wait(Duration::ZERO).is_none());
    }
}
