//! What a read hands on: a delivery, where it sat in its stream, and the events readers
//! report back to the consumer.

use crate::error::Error;
use crate::wire::headers::Headers;

/// A message handed to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub shard: usize,
    pub id: String,
    pub body: Vec<u8>,
    /// Its headers; empty, and unallocated, for most messages.
    pub headers: Headers,
    /// How many times the entry has been delivered, this time included.
    pub deliveries: u64,
    pub place: Place,
}

/// Where an entry sat in its stream when it was read: the `index`-th entry of read `run`
/// of new entries (`>`). Such a read returns entries that were adjacent in the stream,
/// and no entry can appear between them later (ids only grow), so acks of a run can be
/// trimmed instead of deleted one by one (`ack_trim.lua`). Run 0: not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Place {
    pub run: u64,
    pub index: u32,
}

impl Place {
    /// True when `self` came right after `before` in the same read.
    #[must_use]
    pub fn follows(self, before: Place) -> bool {
        self.run != 0 && self.run == before.run && before.index.checked_add(1) == Some(self.index)
    }
}

/// What readers report back: failures for `on_error`, entries to ack off, counts.
pub trait ReaderEvents: Send + Sync {
    fn error(&self, error: Error);
    /// An entry without field `m`, or deleted while pending: to be acked off the queue.
    fn invalid_entry(&self, shard: usize, id: String);
    fn claimed(&self, count: usize);
    fn dead_lettered(&self, shard: usize, id: String, deliveries: u64);
}
