//! How far each shard's entries have travelled in this consumer: queued into the
//! prefetch by its reader, and handed to the application by `fetch`, and when.
//!
//! A reader's `>` reads return rising ids and the prefetch is first in, first out, so an
//! entry of this consumer with an id above the last one handed out is still in the
//! prefetch (or in a read whose reply was lost), and one above `queued` never reached
//! the prefetch.

use crate::wire::stream_id::StreamId;
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Where one of this consumer's pending entries is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whereabouts {
    /// Not handed out yet: in the prefetch, or lost on its way there.
    Unhanded,
    /// Handed to the application at about this time (never earlier).
    HandedAt(Instant),
    /// Handed out longer ago than the memory of hand-outs reaches.
    HandedLongAgo,
}

pub struct Progress {
    queued: Mutex<Vec<StreamId>>,
    handed: Mutex<Vec<HandOuts>>,
    /// How long hand-out times are remembered, and how finely.
    memory: Duration,
    grain: Duration,
    /// Calls of `fetch` so far: the application asking for more.
    fetches: AtomicU64,
    /// Woken whenever the application asks for messages or is handed some.
    pub handed_out: Notify,
    /// Per shard, this consumer's entries that were nacked: its claimer takes them at
    /// once, though the application was handed them less than `claim_idle` ago.
    nacked: Mutex<Vec<HashSet<StreamId>>>,
    /// Wakes the claimer for them.
    pub nudge: Notify,
}

/// One shard's hand-outs: the highest id handed out, the fetch that did it, and marks
/// `(up to id, first, last time)`, each covering the ids above the previous mark. Marks
/// close after `grain`, so a shard keeps about `memory / grain` of them at any rate.
#[derive(Default)]
struct HandOuts {
    up_to: StreamId,
    in_fetch: u64,
    /// The highest id of the marks forgotten: handed out long ago.
    forgotten: StreamId,
    marks: VecDeque<(StreamId, Instant, Instant)>,
}

impl Progress {
    /// Remembers hand-out times for `memory` (the consumer's `claim_idle`).
    #[must_use]
    pub fn new(shards: usize, memory: Duration) -> Self {
        Self {
            queued: Mutex::new(vec![StreamId::default(); shards]),
            handed: Mutex::new((0..shards).map(|_| HandOuts::default()).collect()),
            memory,
            grain: memory / 16,
            fetches: AtomicU64::new(0),
            handed_out: Notify::new(),
            nacked: Mutex::new(vec![HashSet::new(); shards]),
            nudge: Notify::new(),
        }
    }

    /// The queue grew to `shards`.
    pub fn grow(&self, shards: usize) {
        let mut queued = self.queued.lock();
        if queued.len() < shards {
            queued.resize(shards, StreamId::default());
        }
        let mut handed = self.handed.lock();
        if handed.len() < shards {
            handed.resize_with(shards, HandOuts::default);
        }
        let mut nacked = self.nacked.lock();
        if nacked.len() < shards {
            nacked.resize(shards, HashSet::new());
        }
    }

    /// Entries of `shard` nacked (made claimable): the claimer is woken to take them.
    pub fn nacked<'a>(&self, shard: usize, ids: impl Iterator<Item = &'a str>) {
        self.nacked.lock()[shard].extend(ids.filter_map(StreamId::parse));
        self.nudge.notify_one();
    }

    /// Puts back nacked entries a claim pass did not reach, for the next pass (without
    /// waking the claimer: a pass that failed must not be retried in a tight loop).
    pub fn nacked_before(&self, shard: usize, ids: impl Iterator<Item = StreamId>) {
        self.nacked.lock()[shard].extend(ids);
    }

    /// Takes the entries of `shard` nacked since the last call.
    pub fn take_nacked(&self, shard: usize) -> HashSet<StreamId> {
        std::mem::take(&mut self.nacked.lock()[shard])
    }

    /// True when some shard has nacked entries not taken yet.
    #[must_use]
    pub fn has_nacked(&self, shard: usize) -> bool {
        !self.nacked.lock()[shard].is_empty()
    }

    pub fn queued(&self, shard: usize, id: &str) {
        if let Some(id) = StreamId::parse(id) {
            let mut queued = self.queued.lock();
            queued[shard] = queued[shard].max(id);
        }
    }

    /// The application asks for messages.
    pub fn fetching(&self) {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.handed_out.notify_waiters();
    }

    /// Records the last id handed out per shard, as `(shard, id)` pairs.
    pub fn handed<'a>(&self, last_ids: impl Iterator<Item = (usize, &'a str)>) {
        let now = Instant::now();
        let fetch = self.fetches.load(Ordering::SeqCst);
        let mut handed = self.handed.lock();
        for (shard, id) in last_ids {
            let Some(id) = StreamId::parse(id) else {
                continue;
            };
            let shard = &mut handed[shard];
            if id <= shard.up_to {
                continue;
            }
            shard.up_to = id;
            shard.in_fetch = fetch;
            match shard.marks.back_mut() {
                Some((mark, first, last)) if now.duration_since(*first) < self.grain => {
                    *mark = id;
                    *last = now;
                }
                _ => shard.marks.push_back((id, now, now)),
            }
            while shard
                .marks
                .front()
                .is_some_and(|(_, _, last)| now.duration_since(*last) > self.memory)
            {
                if let Some((mark, _, _)) = shard.marks.pop_front() {
                    shard.forgotten = mark;
                }
            }
        }
        drop(handed);
        self.handed_out.notify_waiters();
    }

    /// True once entries up to `id` were handed out and the application came back for
    /// more: it lived through handling them.
    #[must_use]
    pub fn handled_past(&self, shard: usize, id: StreamId) -> bool {
        let handed = &self.handed.lock()[shard];
        handed.up_to >= id && self.fetches.load(Ordering::SeqCst) > handed.in_fetch
    }

    #[must_use]
    pub fn queued_up_to(&self, shard: usize) -> StreamId {
        self.queued.lock()[shard]
    }

    #[must_use]
    pub fn whereabouts(&self, shard: usize, id: StreamId) -> Whereabouts {
        let handed = self.handed.lock();
        let shard = &handed[shard];
        if id > shard.up_to {
            return Whereabouts::Unhanded;
        }
        if id <= shard.forgotten {
            return Whereabouts::HandedLongAgo;
        }
        shard
            .marks
            .iter()
            .find(|(mark, _, _)| *mark >= id)
            .map_or(Whereabouts::HandedLongAgo, |(_, _, last)| {
                Whereabouts::HandedAt(*last)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> StreamId {
        StreamId::parse(text).unwrap()
    }

    #[test]
    fn queued_marks_only_rise() {
        let progress = Progress::new(2, Duration::from_secs(60));
        progress.queued(1, "9-0");
        progress.queued(1, "10-0");
        progress.queued(1, "3-0");
        assert_eq!(progress.queued_up_to(1), id("10-0"));
        assert_eq!(progress.queued_up_to(0), StreamId::default());
    }

    #[test]
    fn nacked_entries_are_taken_once_and_wake_the_claimer() {
        let progress = Progress::new(2, Duration::from_secs(60));
        progress.nacked(1, ["5-0", "7-1", "not an id"].into_iter());
        assert!(progress.has_nacked(1));
        assert!(!progress.has_nacked(0));
        let woken = progress.nudge.notified();
        expect_woken(woken);
        let taken = progress.take_nacked(1);
        assert_eq!(taken, [id("5-0"), id("7-1")].into_iter().collect());
        assert!(progress.take_nacked(1).is_empty());
        progress.nacked_before(1, [id("7-1")].into_iter());
        assert_eq!(progress.take_nacked(1).len(), 1);
    }

    /// The nudge left a permit: the claimer's next wait returns at once.
    fn expect_woken(notified: tokio::sync::futures::Notified<'_>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), notified)
                .await
                .expect("a nack wakes the claimer");
        });
    }

    #[test]
    fn hand_outs_are_placed_in_time() {
        let progress = Progress::new(1, Duration::from_millis(160));
        assert_eq!(progress.whereabouts(0, id("1-0")), Whereabouts::Unhanded);
        progress.handed([(0, "5-0")].into_iter());
        assert!(matches!(
            progress.whereabouts(0, id("5-0")),
            Whereabouts::HandedAt(_)
        ));
        assert_eq!(progress.whereabouts(0, id("6-0")), Whereabouts::Unhanded);
        std::thread::sleep(Duration::from_millis(200));
        progress.handed([(0, "7-0")].into_iter());
        assert_eq!(
            progress.whereabouts(0, id("5-0")),
            Whereabouts::HandedLongAgo
        );
        assert!(matches!(
            progress.whereabouts(0, id("6-0")),
            Whereabouts::HandedAt(_)
        ));
        assert_eq!(progress.whereabouts(0, id("7-1")), Whereabouts::Unhanded);
    }
}
