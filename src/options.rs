//! Plain option structs with the Go ami's defaults (except where noted) and `validate()`.

use crate::error::{Error, Result};
use crate::wire::naming::{validate_name, Layout, QueueKeys};
use std::time::Duration;

/// A password: shown as `***` by `Debug`, so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Certificates for TLS, in PEM. Without `ca` the system's trust store is used.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub ca: Option<Vec<u8>>,
    /// Client certificate and key, for servers that verify clients (mutual TLS).
    pub client_cert: Option<(Vec<u8>, Secret)>,
    /// Skips certificate verification: for tests only, it lets anyone in the middle read.
    pub insecure_skip_verify: bool,
}

/// Where the cluster is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Seed nodes: `host:port` strings or `redis://` URLs.
    pub nodes: Vec<String>,
    /// ACL user; used with `password` for seeds whose URL carries no credentials.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// TLS for every connection; `rediss://` seeds turn it on too.
    pub tls: Option<TlsOptions>,
    pub connect_timeout: Duration,
    /// Longest wait for one reply; blocking reads add their `block` to it.
    pub response_timeout: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:7001".to_owned()],
            username: None,
            password: None,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
        }
    }
}

impl ConnectionOptions {
    pub fn validate(&self) -> Result<()> {
        if self.nodes.is_empty() {
            return Err(Error::invalid("nodes", "at least one seed node is needed"));
        }
        for node in &self.nodes {
            crate::seeds::node_url(node)?;
        }
        positive("connect_timeout", self.connect_timeout)?;
        positive("response_timeout", self.response_timeout)
    }
}

#[derive(Debug, Clone)]
pub struct ProducerOptions {
    pub name: String,
    pub shards: usize,
    /// Where the shard streams sit: the Go ami's names, or spread over the slots.
    pub layout: Layout,
    /// Most messages accepted but not yet confirmed; `send` blocks beyond it.
    /// The Go ami allows 10M; 1M bounds memory and still absorbs long stalls.
    pub pending_buffer_size: usize,
    /// Most bytes of bodies accepted but not yet confirmed.
    pub pending_buffer_bytes: usize,
    /// Messages per pipeline (one pipeline goes to one shard stream).
    pub pipe_buffer_size: usize,
    /// Body bytes per pipeline: a batch of large messages is cut here, far below the
    /// server's 1 GiB query buffer limit.
    pub pipe_buffer_bytes: usize,
    /// Largest body `send` accepts.
    pub max_message_bytes: usize,
    /// A partial batch waits at most this long behind the batches in flight.
    pub pipe_period: Duration,
    /// Most pipelines in flight at once, across all shards.
    pub max_in_flight: usize,
    /// A batch that cannot be written within this long (retries included) fails.
    pub delivery_timeout: Duration,
    /// Longest wait of a blocking send for room in a full buffer; `None` waits. The
    /// core's `offer` never blocks: bindings that block read this.
    pub send_timeout: Option<Duration>,
    /// Create the consumer group at start so messages sent before any consumer ran
    /// are not skipped by the group's `$` start position.
    pub create_group: bool,
    /// Record the shard count and layout in `qu_NAME_shards`, or check them against the
    /// recorded ones.
    pub check_shards: bool,
    /// Confirm a batch only once `WAIT n` in its pipeline says `n` replicas have it.
    pub wait_replicas: usize,
    /// How long that WAIT may block.
    pub wait_timeout: Duration,
    /// Share batches equally among the masters holding the shards, rather than among
    /// the shards (default tags put 2, 5 and 3 of 10 shards on 3 masters).
    pub balance_masters: bool,
    pub connection: ConnectionOptions,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self {
            name: String::new(),
            shards: 10,
            layout: Layout::Go,
            pending_buffer_size: 1_000_000,
            pending_buffer_bytes: 512 * 1024 * 1024,
            pipe_buffer_size: 50_000,
            pipe_buffer_bytes: 16 * 1024 * 1024,
            max_message_bytes: 16 * 1024 * 1024,
            pipe_period: Duration::from_millis(1),
            max_in_flight: 32,
            delivery_timeout: Duration::from_secs(120),
            send_timeout: None,
            create_group: true,
            check_shards: true,
            wait_replicas: 0,
            wait_timeout: Duration::from_secs(1),
            balance_masters: false,
            connection: ConnectionOptions::default(),
        }
    }
}

impl ProducerOptions {
    /// The keys as configured; a spread queue runs on the offset it recorded, which
    /// `settle_keys` adds at start.
    #[must_use]
    pub fn keys(&self) -> QueueKeys {
        QueueKeys::new(&self.name, self.layout, self.shards)
    }

    pub fn validate(&self) -> Result<()> {
        validate_name("name", &self.name)?;
        validate_shards(self.shards)?;
        at_least("pending_buffer_size", self.pending_buffer_size, 1)?;
        at_least("pending_buffer_bytes", self.pending_buffer_bytes, 1024)?;
        at_least("pipe_buffer_size", self.pipe_buffer_size, 1)?;
        at_least("pipe_buffer_bytes", self.pipe_buffer_bytes, 1)?;
        at_least("max_message_bytes", self.max_message_bytes, 1)?;
        // 512 MiB is the server's proto-max-bulk-len default: no bigger body can be stored.
        if self.max_message_bytes > 512 * 1024 * 1024 {
            return Err(Error::invalid(
                "max_message_bytes",
                "must be at most 512 MiB",
            ));
        }
        at_least("max_in_flight", self.max_in_flight, 1)?;
        positive("pipe_period", self.pipe_period)?;
        positive("delivery_timeout", self.delivery_timeout)?;
        if self.wait_replicas > 0 {
            positive("wait_timeout", self.wait_timeout)?;
        }
        self.connection.validate()
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub name: String,
    pub consumer: String,
    pub shards: usize,
    pub layout: Layout,
    /// Fewest entries read from one shard per XREADGROUP; reads grow with the distance to
    /// the server (`consumer/read_count.rs`).
    pub prefetch_count: usize,
    /// XREADGROUP BLOCK; `None` reads without blocking (polling every `pipe_period`).
    pub block: Option<Duration>,
    /// Most acks held before `ack` blocks.
    pub pending_buffer_size: usize,
    /// Most ids per XACK+XDEL pipeline.
    pub pipe_buffer_size: usize,
    /// Acks are written at least this often.
    pub pipe_period: Duration,
    /// An ack batch that cannot be written within this long is reported and dropped
    /// (its messages stay pending and are delivered again).
    pub ack_timeout: Duration,
    /// Entries pending this long with any consumer are claimed and delivered again;
    /// `None` never claims (the Go ami's behaviour).
    pub claim_idle: Option<Duration>,
    /// Deliveries after which an entry goes to the dead-letter stream; `None` never.
    pub max_deliveries: Option<u64>,
    /// Record the shard count and layout in `qu_NAME_shards`, or check them against the
    /// recorded ones.
    pub check_shards: bool,
    /// Delete the acked entries at the head of the stream with one `XTRIM` (a server
    /// script that checks one entry per read run, see `ack_trim.lua`) and `XDEL` only the
    /// rest; `false` sends plain `XACK` + `XDEL`.
    pub trim_acked: bool,
    pub connection: ConnectionOptions,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            name: String::new(),
            consumer: String::new(),
            shards: 10,
            layout: Layout::Go,
            prefetch_count: 100,
            block: Some(Duration::from_secs(1)),
            pending_buffer_size: 1_000_000,
            pipe_buffer_size: 50_000,
            pipe_period: Duration::from_millis(1),
            ack_timeout: Duration::from_secs(60),
            claim_idle: Some(Duration::from_secs(60)),
            max_deliveries: Some(10),
            check_shards: true,
            trim_acked: true,
            connection: ConnectionOptions::default(),
        }
    }
}

impl ConsumerOptions {
    /// The keys as configured; a spread queue runs on the offset it recorded, which
    /// `settle_keys` adds at start.
    #[must_use]
    pub fn keys(&self) -> QueueKeys {
        QueueKeys::new(&self.name, self.layout, self.shards)
    }

    pub fn validate(&self) -> Result<()> {
        validate_name("name", &self.name)?;
        validate_name("consumer", &self.consumer)?;
        validate_shards(self.shards)?;
        at_least("prefetch_count", self.prefetch_count, 1)?;
        at_least("pending_buffer_size", self.pending_buffer_size, 1)?;
        at_least("pipe_buffer_size", self.pipe_buffer_size, 1)?;
        positive("pipe_period", self.pipe_period)?;
        positive("ack_timeout", self.ack_timeout)?;
        if self
            .claim_idle
            .is_some_and(|idle| idle < Duration::from_millis(10))
        {
            return Err(Error::invalid(
                "claim_idle",
                "must be at least 0.01 s, or None",
            ));
        }
        if self.max_deliveries == Some(0) {
            return Err(Error::invalid(
                "max_deliveries",
                "must be at least 1, or None",
            ));
        }
        if let Some(block) = self.block {
            if block < Duration::from_millis(1) {
                return Err(Error::invalid("block", "must be at least 0.001 s, or None"));
            }
        }
        self.connection.validate()
    }
}

/// Shard counts the Go ami can share a queue with (its `ShardsCount` is an int8).
pub const MAX_SHARDS: usize = 127;

pub fn validate_shards(shards: usize) -> Result<()> {
    if (1..=MAX_SHARDS).contains(&shards) {
        Ok(())
    } else {
        Err(Error::invalid(
            "shards",
            format!("must be between 1 and {MAX_SHARDS}, got {shards}"),
        ))
    }
}

fn at_least(option: &'static str, value: usize, min: usize) -> Result<()> {
    if value >= min {
        Ok(())
    } else {
        Err(Error::invalid(
            option,
            format!("must be at least {min}, got {value}"),
        ))
    }
}

fn positive(option: &'static str, value: Duration) -> Result<()> {
    if value.is_zero() {
        Err(Error::invalid(option, "must be greater than 0"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer() -> ProducerOptions {
        ProducerOptions {
            name: "q".into(),
            ..ProducerOptions::default()
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(producer().validate().is_ok());
        let consumer = ConsumerOptions {
            name: "q".into(),
            consumer: "c".into(),
            ..Default::default()
        };
        assert!(consumer.validate().is_ok());
    }

    #[test]
    fn bad_values_name_their_option() {
        let cases = [
            ProducerOptions {
                shards: 0,
                ..producer()
            },
            ProducerOptions {
                shards: 128,
                ..producer()
            },
            ProducerOptions {
                pipe_buffer_size: 0,
                ..producer()
            },
            ProducerOptions {
                pipe_period: Duration::ZERO,
                ..producer()
            },
        ];
        let names: Vec<_> = cases
            .iter()
            .map(|o| match o.validate() {
                Err(Error::InvalidOption { option, .. }) => option,
                other => panic!("expected InvalidOption, got {other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            ["shards", "shards", "pipe_buffer_size", "pipe_period"]
        );
    }
}
