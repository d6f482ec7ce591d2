//! Batched acknowledgements: ids gather per shard until the acker takes them.

use crate::consumer::delivery::Place;
use crate::error::Error;
use parking_lot::{Condvar, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub struct AckBuffer {
    state: Mutex<State>,
    settled: Condvar,
    pub wake: Notify,
    limit: usize,
    batch: usize,
}

/// One id to ack, and where it sat in its stream when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub id: String,
    pub place: Place,
}

impl Acked {
    #[must_use]
    pub fn unplaced(id: String) -> Self {
        Self {
            id,
            place: Place::default(),
        }
    }
}

struct State {
    ids: Vec<Vec<Acked>>,
    buffered: usize,
    in_flight: usize,
    closed: bool,
}

/// Ids taken for writing, per shard.
pub struct AckWork {
    pub per_shard: Vec<(usize, Vec<Acked>)>,
    pub count: usize,
}

impl AckBuffer {
    #[must_use]
    pub fn new(shards: usize, limit: usize, batch: usize) -> Self {
        let state = State {
            ids: vec![Vec::new(); shards],
            buffered: 0,
            in_flight: 0,
            closed: false,
        };
        Self {
            state: Mutex::new(state),
            settled: Condvar::new(),
            wake: Notify::new(),
            limit,
            batch,
        }
    }

    /// The queue grew to `shards`.
    pub fn grow(&self, shards: usize) {
        let mut state = self.state.lock();
        if state.ids.len() < shards {
            state.ids.resize(shards, Vec::new());
        }
    }

    /// Queues ids from the front of `ids` while there is room; returns how many were
    /// taken. An id that does not fit is left in `ids`, never pulled out and dropped.
    pub fn offer(&self, ids: &mut impl Iterator<Item = (usize, Acked)>) -> Result<usize, Error> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Error::Closed { what: "consumer" });
        }
        let was_empty = state.buffered == 0;
        let mut taken = 0;
        while state.buffered + state.in_flight < self.limit {
            let Some((shard, id)) = ids.next() else {
                break;
            };
            state.ids[shard].push(id);
            state.buffered += 1;
            taken += 1;
        }
        let wake = (was_empty && taken > 0) || state.buffered >= self.batch;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Ok(taken)
    }

    /// Blocks up to `timeout` until written acks make room.
    pub fn wait_for_space(&self, timeout: Duration) {
        let mut state = self.state.lock();
        if state.buffered + state.in_flight >= self.limit {
            self.settled.wait_for(&mut state, timeout);
        }
    }

    /// Takes every queued id, or `None` when there is nothing to write.
    pub fn take(&self) -> Option<AckWork> {
        self.take_where(|_| true)
    }

    /// Takes the queued ids of the shards `wanted` accepts, or `None` when there are none.
    pub fn take_where(&self, wanted: impl Fn(usize) -> bool) -> Option<AckWork> {
        let mut state = self.state.lock();
        let per_shard: Vec<(usize, Vec<Acked>)> = state
            .ids
            .iter_mut()
            .enumerate()
            .filter(|(shard, ids)| !ids.is_empty() && wanted(*shard))
            .map(|(shard, ids)| (shard, std::mem::take(ids)))
            .collect();
        let count = per_shard.iter().map(|(_, ids)| ids.len()).sum();
        if count == 0 {
            return None;
        }
        state.buffered -= count;
        state.in_flight += count;
        Some(AckWork { per_shard, count })
    }

    /// True when nothing is queued or being written.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        let state = self.state.lock();
        state.buffered + state.in_flight == 0
    }

    pub fn settle(&self, count: usize) {
        self.state.lock().in_flight -= count;
        self.settled.notify_all();
    }

    /// True when some ids are queued and not yet taken.
    #[must_use]
    pub fn has_buffered(&self) -> bool {
        self.state.lock().buffered > 0
    }

    /// True when a full batch is waiting, so the writer should not linger.
    #[must_use]
    pub fn has_full_batch(&self) -> bool {
        self.state.lock().buffered >= self.batch
    }

    /// Waits up to `timeout` until every queued ack is written; returns how many remain.
    pub fn wait_settled(&self, timeout: Duration) -> usize {
        let mut state = self.state.lock();
        if state.buffered + state.in_flight > 0 {
            self.settled.wait_for(&mut state, timeout);
        }
        state.buffered + state.in_flight
    }

    /// Gives up every queued and in-flight ack (their writer is gone); returns how many.
    pub fn fail_all(&self) -> usize {
        let mut state = self.state.lock();
        let failed = state.buffered + state.in_flight;
        for ids in &mut state.ids {
            ids.clear();
        }
        state.buffered = 0;
        state.in_flight = 0;
        state.closed = true;
        drop(state);
        self.settled.notify_all();
        failed
    }

    pub fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_one();
        self.settled.notify_all();
    }

    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_bounded_and_grouped_by_shard() {
        let acks = AckBuffer::new(3, 3, 100);
        let ids = [(0, "1-0"), (2, "2-0"), (0, "3-0"), (1, "4-0")];
        let mut offered = ids
            .iter()
            .map(|(s, id)| (*s, Acked::unplaced((*id).to_owned())));
        let taken = acks.offer(&mut offered).unwrap();
        assert_eq!(taken, 3);
        assert_eq!(
            offered.next(),
            Some((1, Acked::unplaced("4-0".to_owned()))),
            "the id that did not fit"
        );
        let work = acks.take().unwrap();
        assert_eq!(work.count, 3);
        assert_eq!(
            work.per_shard,
            [
                (
                    0,
                    vec![Acked::unplaced("1-0".into()), Acked::unplaced("3-0".into())]
                ),
                (2, vec![Acked::unplaced("2-0".into())])
            ]
        );
        assert_eq!(acks.wait_settled(Duration::ZERO), 3);
        acks.settle(3);
        assert_eq!(acks.wait_settled(Duration::ZERO), 0);
        acks.close();
        assert!(acks.offer(&mut std::iter::empty()).is_err());
    }
}
