//! ami: reliable, high-throughput queues on Redis Cluster Streams, wire-compatible with
//! the Go ami. The core runs on tokio; `python/` is the only module that knows `PyO3`.
//!
//! - `producer/`: bodies -> outbox -> pipelined XADD batches, one shard at a time.
//! - `consumer/`: per-shard readers -> prefetch -> the application -> acks, claims,
//!   dead letters.
//! - `cluster/`: connections, the queue's groups and recorded shard count, retries.
//! - `wire/`: key names, stream ids, reply parsing.

// Only the binding calls into the core, so dead code is judged on the `python` build
// (`make lint`); without it every item would count as unused.
#![cfg_attr(not(feature = "python"), allow(dead_code, unused_imports))]

mod admin;
mod cluster;
mod consumer;
mod error;
mod notices;
mod options;
mod producer;
mod runtime;
mod seeds;
mod stats;
mod supervise;
mod wire;

#[cfg(feature = "python")]
mod python;

/// The internals `benches/hot_paths.rs` measures; not an API.
#[doc(hidden)]
pub mod hot_paths {
    pub use crate::consumer::ack::{AckBuffer, Acked};
    pub use crate::producer::batch::BodyBatch;
    pub use crate::producer::outbox::{Limits, Offer, Outbox, Take};
    pub use crate::producer::writer::xadd_pipeline;
    pub use crate::wire::pipeline_replies::PipelineReplies;
    pub use crate::wire::raw_reply::{RawReply, ReplyParser};
    pub use crate::wire::reply::parse_read_reply;
    pub use crate::wire::xadd_encoding::encode_xadds;
}
