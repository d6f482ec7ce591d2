//! The producer's bounded buffer: Python threads append bodies, the writer task takes
//! batches, and everything counts as unconfirmed until written or failed.
//!
//! Messages without a key fill one batch that goes to whichever shard the placement
//! picks. Keyed messages wait in a lane per shard, and a lane hands out its next batch
//! only once the one before is written or failed, so a key's messages reach its shard in
//! the order they were sent, retries included.

use crate::producer::batch::BodyBatch;
use crate::wire::headers::PackedHeaders;
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
    /// Shard streams a burst is spread over (see `Outbox::take`) at start.
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
    /// One lane per shard for keyed messages, up to the highest shard a key went to.
    lanes: Vec<Lane>,
    /// Shard streams a burst is spread over: `Limits::shards`, until the queue grows.
    shards: usize,
    /// Messages waiting in the lanes.
    lanes_queued: usize,
    /// Where the next look for a batch starts: the lanes by shard, then the unkeyed
    /// batches, in turn, so neither kind can starve the other.
    next_source: usize,
    unconfirmed_messages: usize,
    unconfirmed_bytes: usize,
    hurry: bool,
    closed: bool,
}

/// The keyed messages of one shard.
#[derive(Default)]
struct Lane {
    filling: BodyBatch,
    full: VecDeque<BodyBatch>,
    /// A batch of this lane is being written: the next one waits for it.
    busy: bool,
}

impl State {
    fn has_room(&self, limits: &Limits, body_len: usize) -> bool {
        // An oversized body is still accepted into an empty outbox so it cannot wait forever.
        self.unconfirmed_messages == 0
            || (self.unconfirmed_messages < limits.messages
                && self.unconfirmed_bytes + body_len <= limits.bytes)
    }
}

fn is_full(batch: &BodyBatch, limits: &Limits) -> bool {
    batch.len() >= limits.batch || batch.byte_len() >= limits.batch_bytes
}

impl Outbox {
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        let state = State {
            shards: limits.shards.max(1),
            ..State::default()
        };
        Self {
            state: Mutex::new(state),
            settled: Condvar::new(),
            wake: Notify::new(),
            limits,
        }
    }

    /// Appends one body if there is room.
    pub fn offer(&self, body: &[u8]) -> Offer {
        self.offer_unkeyed(body.len(), |batch| batch.push(body))
    }

    /// Appends one message with headers (maybe none), bound for shard `lane` when it has
    /// a key, if there is room.
    pub fn offer_message(
        &self,
        body: &[u8],
        headers: &PackedHeaders,
        lane: Option<usize>,
    ) -> Offer {
        let Some(shard) = lane else {
            if headers.is_empty() {
                return self.offer(body);
            }
            return self.offer_headed(body, headers);
        };
        let size = body.len() + headers.packed().len();
        let mut state = self.state.lock();
        if state.closed {
            return Offer::Closed;
        }
        if !state.has_room(&self.limits, size) {
            return Offer::Full;
        }
        if state.lanes.len() <= shard {
            state.lanes.resize_with(shard + 1, Lane::default);
        }
        let lane = &mut state.lanes[shard];
        let was_empty = lane.filling.is_empty();
        lane.filling.keyed_shard = Some(shard);
        lane.filling.push_with_headers(body, headers);
        let full = is_full(&lane.filling, &self.limits);
        if full {
            let batch = std::mem::take(&mut lane.filling);
            lane.full.push_back(batch);
        }
        let wake = (full || was_empty) && !lane.busy;
        state.lanes_queued += 1;
        state.unconfirmed_messages += 1;
        state.unconfirmed_bytes += size;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Offer::Accepted
    }

    /// `offer` of a message without a key but with headers.
    fn offer_headed(&self, body: &[u8], headers: &PackedHeaders) -> Offer {
        let size = body.len() + headers.packed().len();
        self.offer_unkeyed(size, |batch| batch.push_with_headers(body, headers))
    }

    /// Appends a message of `size` bytes to the round-robin batch with `push`, if there
    /// is room; wakes the writer when the batch fills or starts.
    #[inline]
    fn offer_unkeyed(&self, size: usize, push: impl FnOnce(&mut BodyBatch)) -> Offer {
        let mut state = self.state.lock();
        if state.closed {
            return Offer::Closed;
        }
        if !state.has_room(&self.limits, size) {
            return Offer::Full;
        }
        let was_empty = state.filling.is_empty();
        push(&mut state.filling);
        state.queued += 1;
        state.unconfirmed_messages += 1;
        state.unconfirmed_bytes += size;
        if is_full(&state.filling, &self.limits) {
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
    ///
    /// Keyed lanes take turns with the unkeyed batches; a lane whose last batch is still
    /// being written is passed over until `lane_done`.
    pub fn take(&self, linger_over: bool) -> Take {
        let mut state = self.state.lock();
        if state.lanes.is_empty() {
            return Self::take_unkeyed(&mut state, linger_over);
        }
        let sources = state.lanes.len() + 1;
        let unkeyed = state.lanes.len();
        let start = state.next_source;
        let eager = linger_over || state.hurry || state.closed;
        let mut lingering = false;
        // Full batches first, then partial ones once they are due.
        for partial in [false, true] {
            for step in 0..sources {
                let source = (start + step) % sources;
                if source == unkeyed {
                    let ready = if partial {
                        !state.filling.is_empty()
                    } else {
                        !state.full.is_empty()
                    };
                    if !ready {
                        continue;
                    }
                    if partial && !eager {
                        lingering = true;
                        continue;
                    }
                    state.next_source = (source + 1) % sources;
                    return Self::take_unkeyed(&mut state, true);
                }
                let lane = &mut state.lanes[source];
                if lane.busy {
                    continue;
                }
                let batch = if partial {
                    if lane.filling.is_empty() {
                        continue;
                    }
                    if !eager {
                        lingering = true;
                        continue;
                    }
                    std::mem::take(&mut lane.filling)
                } else {
                    match lane.full.pop_front() {
                        Some(batch) => batch,
                        None => continue,
                    }
                };
                lane.busy = true;
                state.lanes_queued -= batch.len();
                state.next_source = (source + 1) % sources;
                return Take::Batch(batch);
            }
        }
        if lingering {
            return Take::Linger;
        }
        state.hurry = false;
        if state.closed && state.queued == 0 && state.lanes_queued == 0 {
            Take::Done
        } else {
            Take::Empty
        }
    }

    /// A batch of the lane of `shard` was written or failed: its next one may go.
    pub fn lane_done(&self, shard: usize) {
        let mut state = self.state.lock();
        if let Some(lane) = state.lanes.get_mut(shard) {
            lane.busy = false;
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Everything still queued, lanes included, for a writer that died.
    pub fn drain(&self) -> Vec<BodyBatch> {
        let mut state = self.state.lock();
        let state = &mut *state;
        let mut batches: Vec<BodyBatch> = state.full.drain(..).collect();
        batches.push(std::mem::take(&mut state.filling));
        for lane in &mut state.lanes {
            batches.extend(lane.full.drain(..));
            batches.push(std::mem::take(&mut lane.filling));
        }
        state.queued = 0;
        state.lanes_queued = 0;
        batches.retain(|batch| !batch.is_empty());
        batches
    }

    /// `take` of the unkeyed batches alone.
    fn take_unkeyed(state: &mut State, linger_over: bool) -> Take {
        let mut batch = if let Some(batch) = state.full.pop_front() {
            batch
        } else if state.filling.is_empty() {
            state.hurry = false;
            return if state.closed && state.lanes_queued == 0 {
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
            .div_ceil(state.shards)
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

    /// The queue grew to `shards`: bursts are spread over all of them.
    pub fn grow(&self, shards: usize) {
        let mut state = self.state.lock();
        state.shards = state.shards.max(shards);
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

    fn keyed_outbox(batch: usize) -> Outbox {
        Outbox::new(Limits {
            messages: 100,
            bytes: 1 << 20,
            batch,
            batch_bytes: 1 << 20,
            shards: 3,
        })
    }

    fn keyed(outbox: &Outbox, body: &[u8], shard: usize) {
        let offered = outbox.offer_message(body, &PackedHeaders::default(), Some(shard));
        assert_eq!(offered, Offer::Accepted);
    }

    fn taken(take: Take) -> (Option<usize>, Vec<Vec<u8>>) {
        let Take::Batch(batch) = take else {
            panic!("a batch, not {take:?}");
        };
        (
            batch.keyed_shard,
            batch.iter().map(<[u8]>::to_vec).collect(),
        )
    }

    #[test]
    fn a_lane_waits_for_its_batch_in_flight() {
        let outbox = keyed_outbox(2);
        for body in [b"a", b"b", b"c"] {
            keyed(&outbox, body, 1);
        }
        assert_eq!(
            taken(outbox.take(false)),
            (Some(1), vec![b"a".to_vec(), b"b".to_vec()])
        );
        // "c" waits behind the batch in flight, however due it is.
        assert!(matches!(outbox.take(true), Take::Empty));
        keyed(&outbox, b"x", 2);
        assert_eq!(taken(outbox.take(true)), (Some(2), vec![b"x".to_vec()]));
        outbox.lane_done(1);
        assert!(matches!(outbox.take(false), Take::Linger));
        assert_eq!(taken(outbox.take(true)), (Some(1), vec![b"c".to_vec()]));
    }

    #[test]
    fn lanes_and_unkeyed_batches_take_turns() {
        let outbox = keyed_outbox(1);
        for _ in 0..3 {
            outbox.offer(b"u");
            keyed(&outbox, b"k", 0);
        }
        let mut kinds = Vec::new();
        for _ in 0..4 {
            let (shard, _) = taken(outbox.take(false));
            kinds.push(shard);
            if let Some(shard) = shard {
                outbox.lane_done(shard);
            }
        }
        assert_eq!(kinds, [Some(0), None, Some(0), None]);
    }

    #[test]
    fn closing_waits_for_the_lanes_and_a_dead_writer_drains_them() {
        let outbox = keyed_outbox(1);
        keyed(&outbox, b"a", 0);
        keyed(&outbox, b"b", 0);
        outbox.close();
        assert_eq!(taken(outbox.take(false)).1, [b"a".to_vec()]);
        assert!(
            matches!(outbox.take(false), Take::Empty),
            "b is still queued"
        );
        let drained = outbox.drain();
        assert_eq!(drained.iter().map(BodyBatch::len).sum::<usize>(), 1);
        outbox.lane_done(0);
        assert!(matches!(outbox.take(false), Take::Done));
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
