//! The producer's bounded buffer: Python threads append bodies, the writer task takes
//! batches, and everything counts as unconfirmed until written or failed.

use crate::producer::batch::BodyBatch;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Notify;

/// What happened to a body offered to the outbox.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Accepted,
    /// No room now; wait for `wait_for_space` and offer again.
    Full,
    Closed,
}

/// What the writer should do next.
#[derive(Debug)]
pub enum Take {
    Batch(BodyBatch),
    /// A partial batch is filling: wait `pipe_period` (or a wake-up), then take it.
    Linger,
    Empty,
    /// Closed and drained: the writer can stop.
    Done,
}

pub struct Limits {
    pub messages: usize,
    pub bytes: usize,
    pub batch: usize,
    pub batch_bytes: usize,
    /// Shard streams a burst is spread over (see `Outbox::take`).
    pub shards: usize,
}

/// The smallest batch a burst is cut into to spread it over the shards: a pipeline this
/// long still amortises its round trip.
pub const SMALLEST_SPREAD_BATCH: usize = 1_000;

pub struct Outbox {
    state: Mutex<State>,
    /// Wakes blocked senders and `flush` waiters when messages settle.
    settled: Condvar,
    /// Wakes the writer task.
    pub wake: Notify,
    limits: Limits,
}

#[derive(Default)]
struct State {
    filling: BodyBatch,
    full: VecDeque<BodyBatch>,
    /// Messages in `filling` and `full`: accepted, not yet taken by the writer.
    queued: usize,
    unconfirmed_messages: usize,
    unconfirmed_bytes: usize,
    hurry: bool,
    closed: bool,
}

impl State {
    fn has_room(&self, limits: &Limits, body_len: usize) -> bool {
        // An oversized body is still accepted into an empty outbox so it cannot wait forever.
        self.unconfirmed_messages == 0
            || (self.unconfirmed_messages < limits.messages
                && self.unconfirmed_bytes + body_len <= limits.bytes)
    }
}

impl Outbox {
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            state: Mutex::default(),
            settled: Condvar::new(),
            wake: Notify::new(),
            limits,
        }
    }

    /// Appends one body if there is room.
    pub fn offer(&self, body: &[u8]) -> Offer {
        let mut state = self.state.lock();
        if state.closed {
            return Offer::Closed;
        }
        if !state.has_room(&self.limits, body.len()) {
            return Offer::Full;
        }
        let was_empty = state.filling.is_empty();
        state.filling.push(body);
        state.queued += 1;
        state.unconfirmed_messages += 1;
        state.unconfirmed_bytes += body.len();
        if state.filling.len() >= self.limits.batch
            || state.filling.byte_len() >= self.limits.batch_bytes
        {
            let batch = std::mem::take(&mut state.filling);
            state.full.push_back(batch);
            drop(state);
            self.wake.notify_one();
        } else if was_empty {
            drop(state);
            self.wake.notify_one();
        }
        Offer::Accepted
    }

    /// Blocks up to `timeout` until some messages settle or the outbox closes.
    pub fn wait_for_space(&self, timeout: Duration) {
        let mut state = self.state.lock();
        if !state.closed && state.unconfirmed_messages > 0 {
            self.settled.wait_for(&mut state, timeout);
        }
    }

    /// Hands the writer its next batch.
    ///
    /// A burst is spread over the shards: while more is queued than a batch per shard, a
    /// batch is cut to an equal share of it (at least `SMALLEST_SPREAD_BATCH`), so one
    /// shard does not take a whole burst. The rest is due at once, as a full batch.
    pub fn take(&self, linger_over: bool) -> Take {
        let mut state = self.state.lock();
        let mut batch = if let Some(batch) = state.full.pop_front() {
            batch
        } else if state.filling.is_empty() {
            state.hurry = false;
            return if state.closed {
                Take::Done
            } else {
                Take::Empty
            };
        } else if linger_over || state.hurry || state.closed {
            std::mem::take(&mut state.filling)
        } else {
            return Take::Linger;
        };
        let share = state
            .queued
            .div_ceil(self.limits.shards.max(1))
            .max(SMALLEST_SPREAD_BATCH);
        // Cut into shares all at once, from the end, so every body is copied at most
        // once; the shares queue in order behind the first. No piece is left shorter
        // than the smallest spread batch.
        while batch.len() >= share + SMALLEST_SPREAD_BATCH {
            let last_share = batch.split_off(batch.len() - share);
            state.full.push_front(last_share);
        }
        state.queued -= batch.len();
        Take::Batch(batch)
    }

    /// Marks `messages` (of `bytes` total) as written or failed.
    pub fn settle(&self, messages: usize, bytes: usize) {
        let mut state = self.state.lock();
        state.unconfirmed_messages -= messages;
        state.unconfirmed_bytes -= bytes;
        drop(state);
        self.settled.notify_all();
    }

    /// Asks the writer to send the partial batch now rather than after `pipe_period`.
    pub fn hurry(&self) {
        self.state.lock().hurry = true;
        self.wake.notify_one();
    }

    /// Waits up to `timeout` for every accepted message to settle; returns how many remain.
    pub fn wait_settled(&self, timeout: Duration) -> usize {
        let mut state = self.state.lock();
        if state.unconfirmed_messages > 0 {
            self.settled.wait_for(&mut state, timeout);
        }
        state.unconfirmed_messages
    }

    /// Refuses new messages; the writer drains what was accepted, then stops.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_one();
        self.settled.notify_all();
    }

    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Messages accepted but not yet written or failed.
    #[must_use]
    pub fn unconfirmed(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.unconfirmed_messages, state.unconfirmed_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(messages: usize, batch: usize) -> Outbox {
        Outbox::new(Limits {
            messages,
            bytes: 1 << 20,
            batch,
            batch_bytes: 1 << 20,
            shards: 2,
        })
    }

    #[test]
    fn full_batches_are_taken_first_then_the_partial_one_after_linger() {
        let outbox = outbox(10, 2);
        for body in [b"a", b"b", b"c"] {
            assert_eq!(outbox.offer(body), Offer::Accepted);
        }
        assert!(matches!(outbox.take(false), Take::Batch(b) if b.len() == 2));
        assert!(matches!(outbox.take(false), Take::Linger));
        assert!(matches!(outbox.take(true), Take::Batch(b) if b.len() == 1));
        assert!(matches!(outbox.take(false), Take::Empty));
    }

    #[test]
    fn a_burst_is_cut_into_a_share_per_shard() {
        let outbox = outbox(10_000, 5_000);
        for i in 0..4_500_u32 {
            outbox.offer(&i.to_be_bytes());
        }
        let batches: Vec<BodyBatch> = std::iter::from_fn(|| match outbox.take(true) {
            Take::Batch(batch) => Some(batch),
            _ => None,
        })
        .collect();
        // A share per shard of what is still queued, never below the smallest spread batch.
        let sizes: Vec<usize> = batches.iter().map(BodyBatch::len).collect();
        assert_eq!(sizes, [2_250, 1_125, 1_125]);
        // Taken in the order sent.
        let bodies: Vec<&[u8]> = batches.iter().flat_map(BodyBatch::iter).collect();
        let sent: Vec<[u8; 4]> = (0..4_500_u32).map(u32::to_be_bytes).collect();
        assert!(bodies.iter().zip(&sent).all(|(body, sent)| body == sent));
    }

    #[test]
    fn bounded_until_settled() {
        let outbox = outbox(2, 100);
        assert_eq!(outbox.offer(b"a"), Offer::Accepted);
        assert_eq!(outbox.offer(b"b"), Offer::Accepted);
        assert_eq!(outbox.offer(b"c"), Offer::Full);
        outbox.settle(1, 1);
        assert_eq!(outbox.offer(b"c"), Offer::Accepted);
        assert_eq!(outbox.unconfirmed(), (2, 2));
    }

    #[test]
    fn close_drains_then_reports_done() {
        let outbox = outbox(10, 100);
        outbox.offer(b"a");
        outbox.close();
        assert_eq!(outbox.offer(b"b"), Offer::Closed);
        assert!(matches!(outbox.take(false), Take::Batch(b) if b.len() == 1));
        assert!(matches!(outbox.take(false), Take::Done));
    }
}
