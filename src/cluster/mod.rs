//! Connections to the cluster and what the clients set up on it: the queue's groups,
//! its recorded shard count, the servers' versions and what older ones lack, which node
//! holds a key, and which failures are worth a retry.

pub mod connect;
pub mod connection;
pub mod groups;
pub mod nodes;
pub mod older_servers;
pub mod record_watch;
pub mod retry;
pub mod servers;
pub mod shard_count;
pub mod shard_streams;
pub mod spread_registry;
