//! Stream and group names, the one place that knows the Go ami's wire layout.

use crate::error::{Error, Result};

/// Longest queue or consumer name accepted; keys stay short and readable in tooling.
pub const MAX_NAME_LEN: usize = 200;

/// The stream holding shard `shard` of queue `name`: `qu{<shard>}_<name>`.
#[must_use]
pub fn stream_name(name: &str, shard: usize) -> String {
    format!("qu{{{shard}}}_{name}")
}

/// The dead-letter stream of shard `shard`: `qu{<shard>}:dlq:<name>`. The same hash tag
/// keeps the move atomic; the `:` after the tag keeps dead letters out of the queues'
/// names (`qu{<shard>}_...`), whatever a queue is called.
#[must_use]
pub fn dead_letter_stream_name(name: &str, shard: usize) -> String {
    format!("qu{{{shard}}}:dlq:{name}")
}

/// The consumer group shared by every consumer of queue `name`.
#[must_use]
pub fn group_name(name: &str) -> String {
    format!("qu_{name}_group")
}

/// Accepts names made of ASCII letters, digits and `_ - . : @`.
///
/// Whitespace, control, brace and glob characters are refused: they break hash tags,
/// `SCAN` patterns or log lines, and no Go ami queue needs them.
pub fn validate_name(option: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(option, "must not be empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            option,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !is_name_char(*c)) {
        return Err(Error::invalid(
            option,
            format!("{value:?} contains {bad:?}; allowed are ASCII letters, digits and _-.:@"),
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_go_ami() {
        assert_eq!(stream_name("ruthie", 0), "qu{0}_ruthie");
        assert_eq!(stream_name("ruthie", 9), "qu{9}_ruthie");
        assert_eq!(group_name("ruthie"), "qu_ruthie_group");
        assert_eq!(dead_letter_stream_name("ruthie", 3), "qu{3}:dlq:ruthie");
        assert_ne!(
            dead_letter_stream_name("orders", 3),
            stream_name("orders_dlq", 3)
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("name", "orders.v2:eu-1@x_y").is_ok());
        for bad in ["", "a b", "a*", "a{1}", "tab\t", "é"] {
            assert!(validate_name("name", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name("name", &"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
