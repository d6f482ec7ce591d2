//! Stream and group names, the one place that knows how a queue's shards are laid out:
//! the Go ami's layout (the default, wire-compatible) or the spread layout.

use crate::error::{Error, Result};
use crate::wire::hash_slot::{slot_of, tag_of_slot, SLOTS};

/// Longest queue or consumer name accepted; keys stay short and readable in tooling.
pub const MAX_NAME_LEN: usize = 200;

/// Where the shard streams of a queue sit in the cluster's hash slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// The Go ami's `qu{i}_NAME`: shard `i` of every queue on the slot of the tag `i`,
    /// 10 shards on 10 fixed slots that only 5 masters of a large cluster hold.
    #[default]
    Go,
    /// `qu{TAG}_NAME`, the tag chosen so that shard `i` of `shards` sits on slot
    /// `(offset + i * 16384 / shards) mod 16384`: evenly over the slot space, which
    /// masters split in equal ranges. The offset is chosen when the queue is created,
    /// away from the other spread queues, and recorded (see [`QueueKeys::record`]).
    Spread,
}

impl Layout {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Go => "go",
            Layout::Spread => "spread",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "go" => Ok(Layout::Go),
            "spread" => Ok(Layout::Spread),
            _ => Err(Error::invalid(
                "layout",
                format!("must be \"go\" or \"spread\", got {value:?}"),
            )),
        }
    }
}

/// The keys of one queue: the only place that turns a shard index into a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    name: String,
    layout: Layout,
    shards: usize,
    /// The spread layout's first slot, when recorded; else the slot of the name (as
    /// queues recorded `N spread` before offsets were chosen).
    offset: Option<u16>,
}

impl QueueKeys {
    #[must_use]
    pub fn new(name: &str, layout: Layout, shards: usize) -> Self {
        Self {
            name: name.to_owned(),
            layout,
            shards,
            offset: None,
        }
    }

    /// The same queue with its spread layout starting on slot `offset` (below 16384).
    #[must_use]
    pub fn at_offset(mut self, offset: u16) -> Self {
        debug_assert!(offset < SLOTS);
        if self.layout == Layout::Spread {
            self.offset = Some(offset % SLOTS);
        }
        self
    }

    /// The same queue with `shards` shards, on the same offset.
    #[must_use]
    pub fn with_shards(&self, shards: usize) -> Self {
        Self {
            shards,
            ..self.clone()
        }
    }

    /// The slot of shard 0 in the spread layout.
    #[must_use]
    pub fn offset(&self) -> u16 {
        self.offset.unwrap_or_else(|| slot_of(self.name.as_bytes()))
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    #[must_use]
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The hash tag of shard `shard`: `0` … `shards-1` in the Go layout, a tag from the
    /// slot table in the spread one.
    #[must_use]
    pub fn tag(&self, shard: usize) -> String {
        match self.layout {
            Layout::Go => shard.to_string(),
            Layout::Spread => tag_of_slot(self.spread_slot(shard)).to_owned(),
        }
    }

    /// The hash slot of shard `shard`.
    #[must_use]
    pub fn slot(&self, shard: usize) -> u16 {
        match self.layout {
            Layout::Go => slot_of(self.tag(shard).as_bytes()),
            Layout::Spread => self.spread_slot(shard),
        }
    }

    fn spread_slot(&self, shard: usize) -> u16 {
        let slots = usize::from(SLOTS);
        let offset = usize::from(self.offset());
        // Shard 2i of 2n shards sits on the slot of shard i of n: doubling the count
        // keeps every existing stream.
        let slot = (offset + shard * slots / self.shards.max(1)) % slots;
        u16::try_from(slot).expect("below 16384")
    }

    /// The stream of shard `shard`: `qu{<tag>}_<name>`.
    #[must_use]
    pub fn stream(&self, shard: usize) -> String {
        format!("qu{{{}}}_{}", self.tag(shard), self.name)
    }

    /// Every shard stream, in shard order.
    #[must_use]
    pub fn streams(&self) -> Vec<String> {
        (0..self.shards).map(|shard| self.stream(shard)).collect()
    }

    /// The dead-letter stream of shard `shard`: `qu{<tag>}:dlq:<name>`. The same hash
    /// tag keeps the move atomic; the `:` after the tag keeps dead letters out of the
    /// queues' names (`qu{<tag>}_...`), whatever a queue is called.
    #[must_use]
    pub fn dead_letter_stream(&self, shard: usize) -> String {
        format!("qu{{{}}}:dlq:{}", self.tag(shard), self.name)
    }

    /// The consumer group shared by every consumer of the queue, in either layout.
    #[must_use]
    pub fn group(&self) -> String {
        group_name(&self.name)
    }

    /// What the queue's metadata key holds: `10` in the Go layout (as before layouts
    /// existed), `10 spread 4321` in the spread one, the last number its offset (`10
    /// spread`, from queues created before offsets were chosen, means the slot of the
    /// name). A client that knows no layouts, or no offsets, reads either as a record
    /// other than its own and refuses to start.
    #[must_use]
    pub fn record(&self) -> String {
        match (self.layout, self.offset) {
            (Layout::Go, _) => self.shards.to_string(),
            (Layout::Spread, None) => format!("{} spread", self.shards),
            (Layout::Spread, Some(offset)) => format!("{} spread {offset}", self.shards),
        }
    }

    /// The keys of queue `name` as its metadata key `value` records them, or `None` when
    /// `value` is not a record. Only the canonical spelling is accepted (no signs,
    /// leading zeros or extra spaces), so equal keys always mean equal records.
    #[must_use]
    pub fn parse_record(name: &str, value: &str) -> Option<Self> {
        let mut words = value.split(' ');
        let shards = canonical_number(words.next()?)?;
        let keys = match (words.next(), words.next(), words.next()) {
            (None, _, _) => Self::new(name, Layout::Go, shards),
            (Some("spread"), None, _) => Self::new(name, Layout::Spread, shards),
            (Some("spread"), Some(offset), None) => {
                let offset = u16::try_from(canonical_number(offset)?).ok()?;
                if offset >= SLOTS {
                    return None;
                }
                Self::new(name, Layout::Spread, shards).at_offset(offset)
            }
            _ => return None,
        };
        Some(keys)
    }

    /// `shards=10`, or `shards=10 layout="spread" offset=4321`, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match self.layout {
            Layout::Go => format!("shards={}", self.shards),
            Layout::Spread => format!(
                "shards={} layout=\"spread\" offset={}",
                self.shards,
                self.offset()
            ),
        }
    }
}

fn canonical_number(word: &str) -> Option<usize> {
    let canonical = word.bytes().all(|b| b.is_ascii_digit())
        && !word.is_empty()
        && (word == "0" || !word.starts_with('0'));
    canonical.then(|| word.parse().ok()).flatten()
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
    fn the_go_layout_matches_the_go_ami() {
        let keys = QueueKeys::new("ruthie", Layout::Go, 10);
        assert_eq!(keys.stream(0), "qu{0}_ruthie");
        assert_eq!(keys.stream(9), "qu{9}_ruthie");
        assert_eq!(keys.group(), "qu_ruthie_group");
        assert_eq!(keys.dead_letter_stream(3), "qu{3}:dlq:ruthie");
        assert_eq!(keys.record(), "10");
        assert_ne!(
            keys.dead_letter_stream(3),
            QueueKeys::new("orders_dlq", Layout::Go, 10).stream(3)
        );
    }

    #[test]
    fn the_spread_layout_puts_shards_evenly_apart() {
        let keys = QueueKeys::new("orders", Layout::Spread, 10);
        let offset = slot_of(b"orders");
        for shard in 0..10 {
            let expected = (usize::from(offset) + shard * 16384 / 10) % 16384;
            assert_eq!(usize::from(keys.slot(shard)), expected);
            assert_eq!(slot_of(keys.stream(shard).as_bytes()), keys.slot(shard));
            assert_eq!(
                slot_of(keys.dead_letter_stream(shard).as_bytes()),
                keys.slot(shard)
            );
        }
        assert_eq!(keys.group(), "qu_orders_group");
        assert_ne!(
            QueueKeys::new("a", Layout::Spread, 10).slot(0),
            QueueKeys::new("b", Layout::Spread, 10).slot(0)
        );
    }

    #[test]
    fn spread_names_never_meet_go_names() {
        for shards in [1, 7, 10, 127] {
            let spread = QueueKeys::new("q", Layout::Spread, shards).streams();
            let go = QueueKeys::new("q", Layout::Go, 127).streams();
            assert!(spread.iter().all(|s| !go.contains(s)));
            let distinct: std::collections::HashSet<_> = spread.iter().collect();
            assert_eq!(distinct.len(), shards);
        }
    }

    #[test]
    fn doubling_the_shards_keeps_every_stream() {
        let ten = QueueKeys::new("grow", Layout::Spread, 10).streams();
        let twenty = QueueKeys::new("grow", Layout::Spread, 20).streams();
        for (shard, stream) in ten.iter().enumerate() {
            assert_eq!(&twenty[2 * shard], stream);
        }
    }

    #[test]
    fn any_range_of_equal_masters_holds_its_fair_share() {
        for masters in [3usize, 6, 9, 10, 30, 100] {
            for shards in [10usize, 32, 100, 127] {
                let keys = QueueKeys::new("orders", Layout::Spread, shards);
                let mut held = vec![0usize; masters];
                for shard in 0..shards {
                    held[usize::from(keys.slot(shard)) * masters / 16384] += 1;
                }
                let busiest = held.into_iter().max().unwrap_or_default();
                assert!(busiest <= shards.div_ceil(masters), "{shards} on {masters}");
            }
        }
    }

    #[test]
    fn records_name_the_layout_the_count_and_the_offset() {
        for keys in [
            QueueKeys::new("q", Layout::Go, 12),
            QueueKeys::new("q", Layout::Spread, 12),
            QueueKeys::new("q", Layout::Spread, 12).at_offset(0),
            QueueKeys::new("q", Layout::Spread, 12).at_offset(16383),
        ] {
            assert_eq!(QueueKeys::parse_record("q", &keys.record()), Some(keys));
        }
        let named = QueueKeys::parse_record("orders", "10 spread").unwrap();
        assert_eq!(named.offset(), slot_of(b"orders"));
        assert_eq!(named.record(), "10 spread");
        let chosen = QueueKeys::parse_record("orders", "10 spread 4321").unwrap();
        assert_eq!((chosen.offset(), chosen.shards()), (4321, 10));
        assert_eq!(chosen.slot(1), 4321 + 1638);
        for bad in [
            "",
            "x",
            "10 sideways",
            "spread",
            "10  spread",
            "10 spread ",
            "10 spread 16384",
            "10 spread 01",
            "10 spread -1",
            "10 spread +1",
            "010",
            "10 spread 1 2",
            "10 go",
            "10 spread x",
        ] {
            assert_eq!(QueueKeys::parse_record("q", bad), None, "{bad:?}");
        }
        assert!(Layout::parse("Spread").is_err());
        assert_eq!(
            QueueKeys::new("q", Layout::Go, 10).at_offset(5).record(),
            "10"
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
