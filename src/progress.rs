//! How far each shard's entries have travelled in this consumer: queued into the
//! prefetch by its reader, and handed to the application by `fetch`.
//!
//! A reader's `>` reads return rising ids and the prefetch is first in, first out, so an
//! entry of this consumer with an id above `handed` is still in the prefetch (or in a
//! read whose reply was lost), and one above `queued` never reached the prefetch.

use crate::stream_id::StreamId;
use parking_lot::Mutex;
use tokio::sync::Notify;

pub struct Progress {
    queued: Mutex<Vec<StreamId>>,
    handed: Mutex<Vec<StreamId>>,
    /// Woken whenever messages are handed to the application.
    pub handed_out: Notify,
}

impl Progress {
    #[must_use]
    pub fn new(shards: usize) -> Self {
        Self {
            queued: Mutex::new(vec![StreamId::default(); shards]),
            handed: Mutex::new(vec![StreamId::default(); shards]),
            handed_out: Notify::new(),
        }
    }

    pub fn queued(&self, shard: usize, id: &str) {
        raise(&mut self.queued.lock()[shard], id);
    }

    /// Records the last id handed out per shard, as `(shard, id)` pairs.
    pub fn handed<'a>(&self, last_ids: impl Iterator<Item = (usize, &'a str)>) {
        let mut handed = self.handed.lock();
        for (shard, id) in last_ids {
            raise(&mut handed[shard], id);
        }
        drop(handed);
        self.handed_out.notify_waiters();
    }

    #[must_use]
    pub fn queued_up_to(&self, shard: usize) -> StreamId {
        self.queued.lock()[shard]
    }

    #[must_use]
    pub fn handed_up_to(&self, shard: usize) -> StreamId {
        self.handed.lock()[shard]
    }
}

fn raise(mark: &mut StreamId, id: &str) {
    if let Some(id) = StreamId::parse(id) {
        *mark = (*mark).max(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_rise() {
        let progress = Progress::new(2);
        progress.queued(1, "9-0");
        progress.queued(1, "10-0");
        progress.queued(1, "3-0");
        assert_eq!(progress.queued_up_to(1), StreamId::parse("10-0").unwrap());
        progress.handed([(0, "5-1"), (0, "5-0")].into_iter());
        assert_eq!(progress.handed_up_to(0), StreamId::parse("5-1").unwrap());
        assert_eq!(progress.handed_up_to(1), StreamId::default());
    }
}
