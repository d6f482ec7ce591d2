//! Connections to the cluster: seed parsing, timeouts, and one connection per job.

use crate::error::{Error, Result};
use crate::options::ConnectionOptions;
use crate::retry::Backoff;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, RedisError};
use std::time::Duration;
use tokio::time::Instant;

/// Retries redis-rs makes inside one request (redirects, reconnects) before our own
/// deadline-bound retry loop takes over.
const LIBRARY_RETRIES: u32 = 4;

/// Turns a seed (`host:port` or a `redis://` URL) into the URL redis-rs expects.
pub fn node_url(node: &str) -> Result<String> {
    if node.starts_with("redis://") {
        return Ok(node.to_owned());
    }
    if node.starts_with("rediss://") {
        return Err(Error::invalid(
            "nodes",
            "TLS (rediss://) is not supported yet",
        ));
    }
    let Some((host, port)) = node.rsplit_once(':') else {
        return Err(Error::invalid(
            "nodes",
            format!("{node:?} is not host:port or a redis:// URL"),
        ));
    };
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(Error::invalid(
            "nodes",
            format!("{node:?} is not host:port or a redis:// URL"),
        ));
    }
    Ok(format!("redis://{node}"))
}

/// Opens a cluster connection whose replies may take up to `response_timeout`.
///
/// A cluster that is not up yet (refused connections, slots not covered) is retried
/// with backoff until `connect_timeout`; a refusal that cannot heal (bad password, a
/// server without cluster mode) fails at once. Blocking reads get their own connection
/// with a longer timeout: on a multiplexed connection a blocked XREADGROUP would stall
/// every write queued behind it.
pub async fn connect(
    options: &ConnectionOptions,
    response_timeout: Duration,
) -> Result<ClusterConnection> {
    let urls = options
        .nodes
        .iter()
        .map(|n| node_url(n))
        .collect::<Result<Vec<_>>>()?;
    let failed = |detail: String| Error::Connect {
        nodes: options.nodes.join(","),
        detail,
    };
    let client = ClusterClientBuilder::new(urls)
        .connection_timeout(options.connect_timeout)
        .response_timeout(response_timeout)
        .retries(LIBRARY_RETRIES)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let deadline = Instant::now() + options.connect_timeout;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let detail = match tokio::time::timeout(left, client.get_async_connection()).await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(e)) if !can_heal(&e) => return Err(failed(e.to_string())),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no usable node".to_owned(),
        };
        let pause = backoff.next_delay();
        if Instant::now() + pause >= deadline {
            let seconds = options.connect_timeout.as_secs_f64();
            return Err(failed(format!(
                "{detail} (gave up after connect_timeout={seconds}s)"
            )));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Whether a failed connection attempt may succeed later (the cluster is starting).
fn can_heal(error: &RedisError) -> bool {
    let text = error.to_string();
    let permanent = error.kind() == ErrorKind::AuthenticationFailed
        || error
            .code()
            .is_some_and(|c| matches!(c, "NOAUTH" | "WRONGPASS" | "NOPERM"))
        || text.contains("cluster support disabled");
    !permanent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_become_urls() {
        assert_eq!(
            node_url("127.0.0.1:7001").unwrap(),
            "redis://127.0.0.1:7001"
        );
        assert_eq!(node_url("redis://h:1/").unwrap(), "redis://h:1/");
        for bad in ["localhost", ":7001", "h:0", "h:99999", "h:x"] {
            assert!(node_url(bad).is_err(), "{bad} accepted");
        }
    }
}
