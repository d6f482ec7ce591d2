//! Counters shared by a client's tasks, read by `stats()`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
pub struct ProducerCounters {
    pub accepted: Counter,
    pub confirmed: Counter,
    pub failed: Counter,
    pub retried: Counter,
    pub in_flight_batches: Counter,
}

#[derive(Default, Debug)]
pub struct ConsumerCounters {
    pub delivered: Counter,
    pub acked: Counter,
    pub ack_failed: Counter,
    pub retried: Counter,
    /// Entries deleted while pending or without field `m`: acked off the queue.
    pub dropped_invalid: Counter,
    /// Entries taken over from consumers idle longer than `claim_idle`.
    pub claimed: Counter,
    /// Entries moved to the dead-letter stream after `max_deliveries`.
    pub dead_lettered: Counter,
    /// Entries read but never handed out, given back to the group by `close`.
    pub handed_back: Counter,
    /// Entries the application nacked that were still pending here.
    pub nacked: Counter,
}
