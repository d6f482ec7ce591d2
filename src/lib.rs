//! ami: reliable, high-throughput queues on Redis Cluster Streams, wire-compatible with
//! the Go ami. The core runs on tokio; `python/` is the only module that knows `PyO3`.

pub mod ack;
pub mod ack_write;
pub mod batch;
pub mod claim;
pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod direct_read;
pub mod error;
pub mod groups;
pub mod handback;
pub mod in_flight;
pub mod meta;
pub mod naming;
pub mod nodes;
pub mod notices;
pub mod options;
pub mod outbox;
pub mod placement;
pub mod producer;
pub mod progress;
pub mod raw_reply;
pub mod reader;
pub mod reply;
pub mod retry;
pub mod runtime;
pub mod servers;
pub mod stats;
pub mod stream_id;
pub mod supervise;
pub mod triage;
pub mod writer;

#[cfg(feature = "python")]
mod python;

pub use consumer::{Consumer, Fetch};
pub use error::{Error, Result};
pub use options::{ConnectionOptions, ConsumerOptions, ProducerOptions};
pub use producer::Producer;
