//! Batches in flight per shard, bounded, so a master that stops answering ties up only
//! its own shards' share of the producer's pipelines instead of all of them.
//!
//! Batches keep the placement's order: one waits for its shard to have room. Only a
//! shard that has been full for `STALLED` is passed over, for the next one with room.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A shard full for this long is passed over: its master is slow to answer.
const STALLED: Duration = Duration::from_millis(250);

pub struct InFlight {
    shards: Mutex<Vec<Load>>,
    limit: AtomicUsize,
    freed: Notify,
}

#[derive(Clone, Copy, Default)]
struct Load {
    batches: usize,
    /// When the shard last became full.
    full_since: Option<Instant>,
}

impl InFlight {
    /// At most `limit` batches in flight on any one shard.
    #[must_use]
    pub fn new(shards: usize, limit: usize) -> Self {
        Self {
            shards: Mutex::new(vec![Load::default(); shards]),
            limit: AtomicUsize::new(limit.max(1)),
            freed: Notify::new(),
        }
    }

    /// The queue grew to `shards`, each allowed `limit` batches in flight.
    pub fn grow(&self, shards: usize, limit: usize) {
        let mut loads = self.shards.lock();
        if loads.len() < shards {
            loads.resize(shards, Load::default());
        }
        self.limit.store(limit.max(1), Ordering::Relaxed);
    }

    /// Takes a place on the shard `order` names, waiting while it is full; a shard that
    /// has stayed full for `STALLED` is passed over for the next one `order` names.
    pub async fn start_on(&self, mut order: impl FnMut() -> usize) -> usize {
        let mut shard = order();
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut shards = self.shards.lock();
                let limit = self.limit.load(Ordering::Relaxed);
                for _ in 0..shards.len() {
                    let load = &mut shards[shard];
                    if load.batches < limit {
                        load.batches += 1;
                        if load.batches == limit {
                            load.full_since = Some(Instant::now());
                        }
                        return shard;
                    }
                    let stalled = load
                        .full_since
                        .is_some_and(|since| since.elapsed() >= STALLED);
                    if !stalled {
                        break;
                    }
                    shard = order();
                }
            }
            tokio::select! {
                () = &mut freed => {}
                () = tokio::time::sleep(STALLED) => {}
            }
        }
    }

    /// Takes a place on `shard` without waiting, full or not: for a keyed batch, which
    /// can go nowhere else and of which its shard has at most one in flight.
    pub fn start_at(&self, shard: usize) {
        let mut shards = self.shards.lock();
        let load = &mut shards[shard];
        load.batches += 1;
        if load.batches >= self.limit.load(Ordering::Relaxed) && load.full_since.is_none() {
            load.full_since = Some(Instant::now());
        }
    }

    pub fn finish(&self, shard: usize) {
        let mut shards = self.shards.lock();
        shards[shard].batches -= 1;
        shards[shard].full_since = None;
        drop(shards);
        self.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_robin(shards: usize) -> impl FnMut() -> usize {
        let mut next = shards - 1;
        move || {
            next = (next + 1) % shards;
            next
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_full_shard_is_waited_for_then_passed_over_once_stalled() {
        runtime().block_on(async {
            let in_flight = InFlight::new(3, 1);
            let mut order = round_robin(3);
            assert_eq!(in_flight.start_on(&mut order).await, 0);
            assert_eq!(in_flight.start_on(&mut order).await, 1);
            in_flight.finish(1);
            assert_eq!(in_flight.start_on(&mut order).await, 2);
            // Shard 0 is still full: the next batch waits for it, then passes it over
            // for shard 1 once it has been full for STALLED.
            let started = tokio::time::Instant::now();
            assert_eq!(in_flight.start_on(&mut order).await, 1);
            assert!(started.elapsed() >= STALLED);
        });
    }
}
