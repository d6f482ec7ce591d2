//! Message bodies packed end to end in one allocation, as they wait to be written, with
//! the headers of the few messages that have any beside them.

use crate::wire::headers::{unpack, PackedHeaders};

/// A run of bodies stored contiguously: one `Vec<u8>` and their end offsets.
///
/// A million small messages cost two allocations instead of a million. Headers live in a
/// table of their own, empty (and unallocated) while no message has any, so messages
/// without headers cost what they did before headers existed.
#[derive(Debug, Default, Clone)]
pub struct BodyBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// The messages with headers, by index, in order.
    headed: Vec<Headed>,
    /// Their headers, packed as `PackedHeaders` does, end to end.
    header_bytes: Vec<u8>,
    /// The shard every message of this batch is bound for by its key, when it came from
    /// a keyed lane of the outbox; `None` lets the placement choose.
    pub keyed_shard: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Headed {
    index: usize,
    /// Where its headers end in `header_bytes` (they start where the previous ones end).
    end: usize,
    count: u32,
}

impl BodyBatch {
    #[must_use]
    pub fn with_capacity(messages: usize) -> Self {
        Self {
            ends: Vec::with_capacity(messages),
            ..Self::default()
        }
    }

    pub fn push(&mut self, body: &[u8]) {
        self.bytes.extend_from_slice(body);
        self.ends.push(self.bytes.len());
    }

    /// Appends a message with headers (none when `headers` is empty).
    pub fn push_with_headers(&mut self, body: &[u8], headers: &PackedHeaders) {
        if !headers.is_empty() {
            self.header_bytes.extend_from_slice(headers.packed());
            self.headed.push(Headed {
                index: self.ends.len(),
                end: self.header_bytes.len(),
                count: headers.count(),
            });
        }
        self.push(body);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total size of the bodies and packed headers in bytes.
    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.bytes.len() + self.header_bytes.len()
    }

    /// True when some message of the batch has headers.
    #[must_use]
    pub fn has_headers(&self) -> bool {
        !self.headed.is_empty()
    }

    #[must_use]
    pub fn get(&self, index: usize) -> &[u8] {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        &self.bytes[start..self.ends[index]]
    }

    /// The headers of message `index` (how many, and the packed names and values); `None`
    /// when it has none.
    #[must_use]
    pub fn headers(&self, index: usize) -> Option<(u32, &[u8])> {
        let at = self.headed.binary_search_by_key(&index, |h| h.index).ok()?;
        let start = if at == 0 { 0 } else { self.headed[at - 1].end };
        let headed = self.headed[at];
        Some((headed.count, &self.header_bytes[start..headed.end]))
    }

    /// `headers` for indices visited in ascending order: `cursor` (start it at 0) walks
    /// the table instead of searching it for each message.
    #[must_use]
    pub fn headers_after(&self, index: usize, cursor: &mut usize) -> Option<(u32, &[u8])> {
        if *cursor > 0
            && self
                .headed
                .get(*cursor - 1)
                .is_some_and(|h| h.index >= index)
        {
            return self.headers(index);
        }
        while self.headed.get(*cursor).is_some_and(|h| h.index < index) {
            *cursor += 1;
        }
        let headed = *self.headed.get(*cursor).filter(|h| h.index == index)?;
        let start = if *cursor == 0 {
            0
        } else {
            self.headed[*cursor - 1].end
        };
        *cursor += 1;
        Some((headed.count, &self.header_bytes[start..headed.end]))
    }

    /// The names and values of message `index`'s headers, in the order they were given.
    pub fn header_pairs(&self, index: usize) -> impl Iterator<Item = (&[u8], &[u8])> {
        unpack(self.headers(index).map_or(&[][..], |(_, packed)| packed))
    }

    /// Keeps the first `at` bodies and returns the rest as a batch of their own.
    #[must_use]
    pub fn split_off(&mut self, at: usize) -> BodyBatch {
        if at >= self.len() {
            return BodyBatch {
                keyed_shard: self.keyed_shard,
                ..BodyBatch::default()
            };
        }
        let cut = if at == 0 { 0 } else { self.ends[at - 1] };
        let bytes = self.bytes.split_off(cut);
        let ends = self
            .ends
            .split_off(at)
            .iter()
            .map(|end| end - cut)
            .collect();
        let (headed, header_bytes) = if self.headed.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let first_back = self.headed.partition_point(|h| h.index < at);
            let header_cut = if first_back == 0 {
                0
            } else {
                self.headed[first_back - 1].end
            };
            let header_bytes = self.header_bytes.split_off(header_cut);
            let headed = self
                .headed
                .split_off(first_back)
                .into_iter()
                .map(|h| Headed {
                    index: h.index - at,
                    end: h.end - header_cut,
                    count: h.count,
                })
                .collect();
            (headed, header_bytes)
        };
        BodyBatch {
            bytes,
            ends,
            headed,
            header_bytes,
            keyed_shard: self.keyed_shard,
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(bodies: &[&[u8]]) -> BodyBatch {
        let mut batch = BodyBatch::default();
        for body in bodies {
            batch.push(body);
        }
        batch
    }

    fn headers(pairs: &[(&str, &[u8])]) -> PackedHeaders {
        let mut headers = PackedHeaders::default();
        for (name, value) in pairs {
            headers.push(name, value).unwrap();
        }
        headers
    }

    fn pairs(batch: &BodyBatch, index: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        batch
            .header_pairs(index)
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn keeps_bodies_apart_including_empty_ones() {
        let batch = batch(&[b"a", b"", b"\x00\xff", b"xyz"]);
        let bodies: Vec<&[u8]> = batch.iter().collect();
        assert_eq!(bodies, [&b"a"[..], b"", b"\x00\xff", b"xyz"]);
        assert_eq!(batch.byte_len(), 6);
        assert!(!batch.has_headers());
    }

    #[test]
    fn split_off_keeps_every_body_once_in_order() {
        let mut front = batch(&[b"a", b"", b"bc", b"def"]);
        let back = front.split_off(2);
        assert_eq!(front.iter().collect::<Vec<_>>(), [&b"a"[..], b""]);
        assert_eq!(back.iter().collect::<Vec<_>>(), [&b"bc"[..], b"def"]);
        assert_eq!((front.byte_len(), back.byte_len()), (1, 5));
        assert!(front.split_off(5).is_empty());
    }

    #[test]
    fn headers_stay_with_their_message_across_splits() {
        let mut batch = BodyBatch::default();
        batch.push_with_headers(b"0", &headers(&[("a", b"1")]));
        batch.push(b"1");
        batch.push_with_headers(b"2", &headers(&[("b", b"2"), ("c", b"")]));
        batch.push_with_headers(b"3", &PackedHeaders::default());
        batch.push_with_headers(b"4", &headers(&[("d", b"4")]));
        assert!(batch.has_headers());
        assert_eq!(batch.headers(1), None);
        assert_eq!(batch.headers(2).map(|(count, _)| count), Some(2));
        for at in 0..=5 {
            let mut front = batch.clone();
            let back = front.split_off(at);
            assert_eq!(front.len() + back.len(), 5);
            assert_eq!(front.byte_len() + back.byte_len(), batch.byte_len());
            for index in 0..5 {
                let (part, i) = if index < at {
                    (&front, index)
                } else {
                    (&back, index - at)
                };
                assert_eq!(part.get(i), batch.get(index), "cut at {at}");
                assert_eq!(pairs(part, i), pairs(&batch, index), "cut at {at}");
            }
        }
        assert_eq!(
            pairs(&batch, 2),
            [(b"b".to_vec(), b"2".to_vec()), (b"c".to_vec(), vec![])]
        );
    }
}
