//! Connections: seed parsing, credentials, timeouts, and the choice between a cluster
//! and a standalone server.

use crate::cluster::connection::Connection;
use crate::cluster::retry::Backoff;
use crate::error::{Error, Result};
use crate::options::ConnectionOptions;
use crate::seeds::{node_url, redact};
use redis::aio::ConnectionManagerConfig;
use redis::cluster::ClusterClientBuilder;
use redis::{ClientTlsConfig, ErrorKind, RedisError, TlsCertificates, TlsMode};
use std::time::Duration;
use tokio::time::Instant;

/// Retries redis-rs makes inside one request: none. Every retry goes through ami's own
/// deadline-bound loops, which count and report it; a resend inside redis-rs would
/// write duplicates nobody is told of.
const LIBRARY_RETRIES: u32 = 0;

/// Switches `redis://` to `rediss://` when TLS options are set.
fn with_tls(url: &str, options: &ConnectionOptions) -> String {
    match (options.tls.as_ref(), url.strip_prefix("redis://")) {
        (Some(_), Some(rest)) => format!("rediss://{rest}"),
        _ => url.to_owned(),
    }
}

/// The certificates redis-rs needs, when any were given.
fn certificates(options: &ConnectionOptions) -> Option<TlsCertificates> {
    let tls = options.tls.as_ref()?;
    if tls.ca.is_none() && tls.client_cert.is_none() {
        return None;
    }
    Some(TlsCertificates {
        client_tls: tls.client_cert.as_ref().map(|(cert, key)| ClientTlsConfig {
            client_cert: cert.clone(),
            client_key: key.expose().as_bytes().to_vec(),
        }),
        root_cert: tls.ca.clone(),
    })
}

/// Puts `username`/`password` into a URL that carries none of its own.
fn with_credentials(url: &str, options: &ConnectionOptions) -> String {
    let Some(password) = options.password.as_ref() else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    if rest.split('/').next().unwrap_or_default().contains('@') {
        return url.to_owned();
    }
    let user = options
        .username
        .as_deref()
        .map(percent_encode)
        .unwrap_or_default();
    format!(
        "{scheme}://{user}:{}@{rest}",
        percent_encode(password.expose())
    )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The seeds as redis-rs URLs, with the credentials and the TLS scheme of `options`.
pub fn seed_urls(options: &ConnectionOptions) -> Result<Vec<String>> {
    options
        .nodes
        .iter()
        .map(|n| node_url(n).map(|url| with_tls(&with_credentials(&url, options), options)))
        .collect()
}

/// Opens a connection whose replies may take up to `response_timeout`.
///
/// A cluster that is not up yet (refused connections, slots not covered) is retried
/// with backoff until `connect_timeout`; a refusal that cannot heal (bad password)
/// fails at once. A server without cluster mode is used as a standalone server.
/// Blocking reads get their own connection with a longer timeout: on a multiplexed
/// connection a blocked XREADGROUP would stall every write queued behind it.
pub async fn connect(
    options: &ConnectionOptions,
    response_timeout: Duration,
) -> Result<Connection> {
    let urls = seed_urls(options)?;
    let failed = |detail: &str| Error::Connect {
        nodes: redact(&options.nodes.join(",")),
        detail: scrub(detail, options),
    };
    let deadline = Instant::now() + options.connect_timeout;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(left, open(&urls, options, response_timeout)).await;
        let detail = match attempt {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(e)) if !can_heal(&e) => return Err(failed(&e.to_string())),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no usable node".to_owned(),
        };
        let pause = backoff.next_delay();
        if Instant::now() + pause >= deadline {
            let seconds = options.connect_timeout.as_secs_f64();
            return Err(failed(&format!(
                "{detail} (gave up after connect_timeout={seconds}s)"
            )));
        }
        tokio::time::sleep(pause).await;
    }
}

async fn open(
    urls: &[String],
    options: &ConnectionOptions,
    response_timeout: Duration,
) -> redis::RedisResult<Connection> {
    let mut builder = ClusterClientBuilder::new(urls.to_vec())
        .connection_timeout(options.connect_timeout)
        .response_timeout(response_timeout)
        .retries(LIBRARY_RETRIES);
    let tls = urls.iter().any(|url| url.starts_with("rediss://"));
    if tls {
        let insecure = options.tls.as_ref().is_some_and(|t| t.insecure_skip_verify);
        builder = builder.tls(if insecure {
            TlsMode::Insecure
        } else {
            TlsMode::Secure
        });
    }
    if let Some(certs) = certificates(options) {
        builder = builder.certs(certs);
    }
    let client = builder.build()?;
    match client.get_async_connection().await {
        Ok(cluster) => Ok(Connection::Cluster(cluster)),
        Err(e) if is_standalone(&e) => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(options.connect_timeout))
                .set_response_timeout(Some(response_timeout));
            let insecure = options.tls.as_ref().is_some_and(|t| t.insecure_skip_verify);
            // redis-rs takes the insecure mode of a single server from the URL fragment.
            let url = if insecure {
                format!("{}#insecure", urls[0])
            } else {
                urls[0].clone()
            };
            let client = match certificates(options) {
                Some(certs) => redis::Client::build_with_tls(url.as_str(), certs)?,
                None => redis::Client::open(url.as_str())?,
            };
            let single = client.get_connection_manager_with_config(config).await?;
            Ok(Connection::Standalone(single))
        }
        Err(e) => Err(e),
    }
}

fn is_standalone(error: &RedisError) -> bool {
    error.to_string().contains("cluster support disabled")
}

/// Whether a failed connection attempt may succeed later (the cluster is starting).
fn can_heal(error: &RedisError) -> bool {
    // redis-rs wraps refusals met on the initial connections in an I/O error, so the
    // text is the only witness left.
    const REFUSALS: [&str; 5] = [
        "AuthenticationFailed",
        "WRONGPASS",
        "NOAUTH",
        "NOPERM",
        "invalid peer certificate",
    ];
    let text = error.to_string();
    let permanent = error.kind() == ErrorKind::AuthenticationFailed
        || REFUSALS.iter().any(|refusal| text.contains(refusal));
    !permanent
}

/// An error text with every trace of the credentials removed.
fn scrub(text: &str, options: &ConnectionOptions) -> String {
    let text = redact(text);
    match options.password.as_ref() {
        Some(password) if !password.expose().is_empty() => text.replace(password.expose(), "***"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Secret;

    #[test]
    fn credentials_go_into_urls_and_never_come_out() {
        let options = ConnectionOptions {
            username: Some("app".into()),
            password: Some(Secret::new("p@ss w:rd")),
            ..ConnectionOptions::default()
        };
        let url = with_credentials("redis://h:1", &options);
        assert_eq!(url, "redis://app:p%40ss%20w%3Ard@h:1");
        assert_eq!(
            redact(&format!("failed: {url}/0, x")),
            "failed: redis://***@h:1/0, x"
        );
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(
            with_credentials("redis://u:v@h:1", &options),
            "redis://u:v@h:1"
        );
        assert!(!scrub("bad p@ss w:rd", &options).contains("p@ss"));
    }
}
