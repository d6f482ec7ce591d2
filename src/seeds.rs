//! Seed nodes as users give them (`host:port` or a `redis://` URL), and the redaction
//! that keeps their credentials out of every message.

use crate::error::{Error, Result};
use redis::{ConnectionAddr, IntoConnectionInfo};

/// Turns a seed (`host:port` or a `redis://` URL) into the URL redis-rs expects.
pub fn node_url(node: &str) -> Result<String> {
    if node.starts_with("redis://") || node.starts_with("rediss://") {
        if node.contains('#') {
            return Err(Error::invalid(
                "nodes",
                "URL fragments such as #insecure are refused; use tls_insecure_skip_verify",
            ));
        }
        return Ok(node.to_owned());
    }
    let bad = || {
        Error::invalid(
            "nodes",
            format!("{:?} is not host:port or a redis:// URL", redact(node)),
        )
    };
    let (host, port) = node.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(format!("redis://{node}"))
}

/// `text` with the userinfo of any URL in it replaced by `***`, for messages and logs.
#[must_use]
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', ',', '"', '\'']).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..authority_end]);
            }
            None => out.push_str(&tail[..authority_end]),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// A node's host and port.
pub type Address = (String, u16);
/// Username and password for `AUTH`.
pub type Auth = Option<(Option<String>, String)>;

/// The seeds' addresses and the credentials of the first that has some; `None` unless
/// every seed is plain TCP to database 0 (the direct read and write paths take only those).
pub fn plain_seeds(seed_urls: &[String]) -> Option<(Vec<Address>, Auth)> {
    let mut seeds = Vec::with_capacity(seed_urls.len());
    let mut auth = None;
    for url in seed_urls {
        let info = url.as_str().into_connection_info().ok()?;
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return None;
        };
        let settings = info.redis_settings();
        if settings.db() != 0 {
            return None;
        }
        seeds.push((host.clone(), *port));
        if let (None, Some(password)) = (&auth, settings.password()) {
            auth = Some((settings.username().map(str::to_owned), password.to_owned()));
        }
    }
    (!seeds.is_empty()).then_some((seeds, auth))
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

    #[test]
    fn only_plain_tcp_seeds_to_database_0_go_direct() {
        let (seeds, auth) = plain_seeds(&["redis://u:p@h:1".to_owned()]).unwrap();
        assert_eq!(seeds, [("h".to_owned(), 1)]);
        assert_eq!(auth, Some((Some("u".to_owned()), "p".to_owned())));
        assert!(plain_seeds(&["rediss://h:1".to_owned()]).is_none());
        assert!(plain_seeds(&["redis://h:1/2".to_owned()]).is_none());
    }
}
