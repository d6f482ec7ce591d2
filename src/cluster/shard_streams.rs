//! The shard streams of a running producer or consumer. A queue grown under it gains
//! streams and never loses one, so a shard's index here stays fixed for the client's
//! life: the streams it started with keep theirs and the added ones come after them.
//! In the Go layout that is the queue's own numbering; in the spread layout growing
//! puts the new streams between the old ones (shard `i` of 10 is shard `2i` of 20), so
//! a key's shard in the queue's numbering is translated here.

use crate::wire::naming::QueueKeys;
use parking_lot::RwLock;
use std::sync::Arc;

pub struct ShardStreams {
    table: RwLock<Arc<ShardTable>>,
}

/// One count's streams, in this client's order.
pub struct ShardTable {
    keys: QueueKeys,
    streams: Vec<String>,
    dead_letters: Vec<String>,
    /// This client's index of each shard of the queue's numbering.
    ours_of_queue_shard: Vec<usize>,
}

impl ShardTable {
    fn new(keys: QueueKeys) -> Self {
        let streams = keys.streams();
        let dead_letters = (0..keys.shards())
            .map(|shard| keys.dead_letter_stream(shard))
            .collect();
        Self {
            ours_of_queue_shard: (0..keys.shards()).collect(),
            keys,
            streams,
            dead_letters,
        }
    }

    /// The table of `keys`' count with this one's streams first, or `None` when `keys`
    /// lacks one of them (a shrink or another layout: not something to follow).
    #[must_use]
    pub fn grown(&self, keys: &QueueKeys) -> Option<Self> {
        let queue_streams = keys.streams();
        if keys.layout() != self.keys.layout()
            || keys.shards() <= self.keys.shards()
            || !self.streams.iter().all(|s| queue_streams.contains(s))
        {
            return None;
        }
        let mut table = Self {
            keys: keys.clone(),
            streams: self.streams.clone(),
            dead_letters: self.dead_letters.clone(),
            ours_of_queue_shard: Vec::with_capacity(keys.shards()),
        };
        for (queue_shard, stream) in queue_streams.into_iter().enumerate() {
            let known = table.streams.iter().position(|s| *s == stream);
            let ours = known.unwrap_or_else(|| {
                table.streams.push(stream);
                table
                    .dead_letters
                    .push(keys.dead_letter_stream(queue_shard));
                table.streams.len() - 1
            });
            table.ours_of_queue_shard.push(ours);
        }
        Some(table)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// The streams, by this client's shard index.
    #[must_use]
    pub fn streams(&self) -> &[String] {
        &self.streams
    }

    #[must_use]
    pub fn stream(&self, shard: usize) -> &str {
        &self.streams[shard]
    }

    #[must_use]
    pub fn dead_letters(&self, shard: usize) -> &str {
        &self.dead_letters[shard]
    }

    /// This client's index of the shard `pick` chooses in the queue's numbering, given
    /// the queue's shard count (as a key's shard is chosen).
    pub fn pick(&self, pick: impl FnOnce(usize) -> usize) -> usize {
        self.ours_of_queue_shard[pick(self.keys.shards())]
    }
}

impl ShardStreams {
    #[must_use]
    pub fn new(keys: QueueKeys) -> Self {
        Self {
            table: RwLock::new(Arc::new(ShardTable::new(keys))),
        }
    }

    /// The streams now; a growth after this call does not change what it returns.
    #[must_use]
    pub fn current(&self) -> Arc<ShardTable> {
        Arc::clone(&self.table.read())
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.table.read().len()
    }

    /// [`ShardTable::pick`] on the current streams.
    pub fn pick(&self, pick: impl FnOnce(usize) -> usize) -> usize {
        self.table.read().pick(pick)
    }

    /// Makes `table` (from [`ShardTable::grown`] of the current one) the current one.
    /// Whatever is sized by shard must have room for it before.
    pub fn publish(&self, table: ShardTable) {
        *self.table.write() = Arc::new(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::naming::Layout;

    #[test]
    fn growing_keeps_every_index_and_appends_the_new_streams() {
        for layout in [Layout::Go, Layout::Spread] {
            let old = ShardTable::new(QueueKeys::new("q", layout, 10));
            let keys = QueueKeys::new("q", layout, 20);
            let grown = old.grown(&keys).expect("a whole multiple");
            assert_eq!(&grown.streams()[..10], old.streams());
            let mut sorted = grown.streams().to_vec();
            sorted.sort();
            let mut queue = keys.streams();
            queue.sort();
            assert_eq!(sorted, queue);
            for (queue_shard, stream) in keys.streams().iter().enumerate() {
                let ours = grown.ours_of_queue_shard[queue_shard];
                assert_eq!(grown.stream(ours), stream);
                assert_eq!(
                    grown.dead_letters(ours),
                    keys.dead_letter_stream(queue_shard)
                );
            }
        }
    }

    #[test]
    fn a_pick_goes_to_the_stream_of_its_queue_shard() {
        let keys = QueueKeys::new("q", Layout::Spread, 20);
        let grown = ShardTable::new(QueueKeys::new("q", Layout::Spread, 10))
            .grown(&keys)
            .unwrap();
        for queue_shard in [0, 1, 7, 19] {
            let ours = grown.pick(|shards| {
                assert_eq!(shards, 20);
                queue_shard
            });
            assert_eq!(grown.stream(ours), keys.stream(queue_shard));
        }
    }

    #[test]
    fn shrinks_layout_changes_and_lost_streams_are_not_growth() {
        let old = ShardTable::new(QueueKeys::new("q", Layout::Spread, 10));
        for keys in [
            QueueKeys::new("q", Layout::Spread, 5),
            QueueKeys::new("q", Layout::Spread, 15),
            QueueKeys::new("q", Layout::Go, 20),
            QueueKeys::new("q", Layout::Spread, 10),
        ] {
            assert!(old.grown(&keys).is_none(), "{keys:?}");
        }
    }
}
