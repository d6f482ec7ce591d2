//! Hash slots as Redis Cluster computes them, and a table of one short hash tag per slot
//! (as `redis-cli`'s cluster tooling keeps one), so a key can be placed on a chosen slot.

use std::sync::OnceLock;

pub const SLOTS: u16 = 16384;

/// The hash slot of a key: CRC16 (XMODEM) of its hash tag, or of all of it.
#[must_use]
pub fn slot_of(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(tagged) % SLOTS
}

/// The shortest hash tag hashing to `slot`, first in the order of [`candidates`]. Never
/// all digits, so a tag never spells a Go ami shard tag (`{0}` … `{126}`).
#[must_use]
pub fn tag_of_slot(slot: u16) -> &'static str {
    &slot_table()[usize::from(slot % SLOTS)]
}

/// Built on first use: about 240,000 CRC16s of three bytes, a few milliseconds, once
/// per process.
fn slot_table() -> &'static [String] {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![String::new(); usize::from(SLOTS)];
        let mut missing = table.len();
        for tag in candidates() {
            let entry = &mut table[usize::from(crc16(tag.as_bytes()) % SLOTS)];
            if entry.is_empty() {
                *entry = tag;
                missing -= 1;
                if missing == 0 {
                    break;
                }
            }
        }
        table
    })
}

/// Tags of one, two, three and four letters and digits, shortest first, skipping those
/// that are all digits; three letters already reach every slot.
fn candidates() -> impl Iterator<Item = String> {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (1..=4u32)
        .flat_map(|length| {
            (0..ALPHABET.len().pow(length)).map(move |mut index| {
                let mut tag = String::with_capacity(length as usize);
                for _ in 0..length {
                    tag.push(char::from(ALPHABET[index % ALPHABET.len()]));
                    index /= ALPHABET.len();
                }
                tag
            })
        })
        .filter(|tag| !tag.bytes().all(|b| b.is_ascii_digit()))
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_servers() {
        // The slots DESIGN.md lists for the Go ami's tags, as CLUSTER KEYSLOT gives them.
        let slots: Vec<u16> = (0..10)
            .map(|i| slot_of(format!("qu{{{i}}}_q").as_bytes()))
            .collect();
        assert_eq!(
            slots,
            [13907, 9842, 5649, 1584, 14039, 9974, 5781, 1716, 14171, 10106]
        );
        assert_eq!(slot_of(b"123456789"), 0x31C3 % SLOTS);
        assert_eq!(slot_of(b"a{}b"), slot_of(b"a{}b"));
    }

    #[test]
    fn every_slot_has_a_short_tag_of_its_own() {
        for slot in 0..SLOTS {
            let tag = tag_of_slot(slot);
            assert!((1..=3).contains(&tag.len()), "slot {slot}: {tag:?}");
            assert!(tag.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(!tag.bytes().all(|b| b.is_ascii_digit()), "{tag:?}");
            assert_eq!(slot_of(format!("qu{{{tag}}}_q").as_bytes()), slot);
        }
    }
}
