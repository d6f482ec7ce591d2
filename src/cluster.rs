//! Connections to the cluster: seed parsing, timeouts, and one connection per job.

use crate::error::{Error, Result};
use crate::options::ConnectionOptions;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use std::time::Duration;

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
/// Blocking reads get their own connection with a longer timeout: on a multiplexed
/// connection a blocked XREADGROUP would stall every write queued behind it.
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
    match tokio::time::timeout(options.connect_timeout, client.get_async_connection()).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!(
            "no usable node within connect_timeout={}s",
            options.connect_timeout.as_secs_f64()
        ))),
    }
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
