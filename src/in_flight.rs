//! Batches in flight per shard, bounded, so a master that stops answering ties up only
//! its own shards' share of the producer's pipelines instead of all of them.

use parking_lot::Mutex;
use tokio::sync::Notify;

pub struct InFlight {
    per_shard: Mutex<Vec<usize>>,
    limit: usize,
    freed: Notify,
}

impl InFlight {
    /// At most `limit` batches in flight on any one shard.
    #[must_use]
    pub fn new(shards: usize, limit: usize) -> Self {
        Self {
            per_shard: Mutex::new(vec![0; shards]),
            limit: limit.max(1),
            freed: Notify::new(),
        }
    }

    /// The first shard `order` offers that has room, taking a place on it; waits while
    /// every shard is full.
    pub async fn start_on(&self, mut order: impl FnMut() -> usize) -> usize {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut per_shard = self.per_shard.lock();
                for _ in 0..per_shard.len() {
                    let shard = order();
                    if per_shard[shard] < self.limit {
                        per_shard[shard] += 1;
                        return shard;
                    }
                }
            }
            freed.await;
        }
    }

    pub fn finish(&self, shard: usize) {
        self.per_shard.lock()[shard] -= 1;
        self.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_shard_is_passed_over_until_it_has_room() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let in_flight = InFlight::new(3, 1);
        let mut next = 0;
        let mut round_robin = || {
            next = (next + 1) % 3;
            next
        };
        runtime.block_on(async {
            assert_eq!(in_flight.start_on(&mut round_robin).await, 1);
            assert_eq!(in_flight.start_on(&mut round_robin).await, 2);
            assert_eq!(in_flight.start_on(&mut round_robin).await, 0);
            // Every shard is full: shard 1 is taken again only after it is freed.
            in_flight.finish(1);
            assert_eq!(in_flight.start_on(&mut round_robin).await, 1);
        });
    }
}
