//! Seed nodes as users give them (`host:port` or a `redis://` URL), and the redaction
//! that keeps their credentials out of every message.

use crate::error::{Error, Result};

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
