//! Stream entry ids as numbers, so they order as the server orders them (`10-0` after `9-0`).

use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// Parses `ms-seq` (or a bare `ms`); `None` for anything else.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_value_not_by_text() {
        let id = |s| StreamId::parse(s).unwrap();
        assert!(id("10-0") > id("9-0"));
        assert!(id("9-10") > id("9-9"));
        assert_eq!(
            id("18446744073709551615-18446744073709551615").to_string(),
            "18446744073709551615-18446744073709551615"
        );
        assert_eq!(StreamId::parse("x-1"), None);
        assert_eq!(StreamId::parse("18446744073709551616-0"), None);
    }
}
