//! Message bodies packed end to end in one allocation, as they wait to be written.

/// A run of bodies stored contiguously: one `Vec<u8>` and their end offsets.
///
/// A million small messages cost two allocations instead of a million.
#[derive(Debug, Default, Clone)]
pub struct BodyBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl BodyBatch {
    #[must_use]
    pub fn with_capacity(messages: usize) -> Self {
        Self {
            bytes: Vec::new(),
            ends: Vec::with_capacity(messages),
        }
    }

    pub fn push(&mut self, body: &[u8]) {
        self.bytes.extend_from_slice(body);
        self.ends.push(self.bytes.len());
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total size of the bodies in bytes.
    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    #[must_use]
    pub fn get(&self, index: usize) -> &[u8] {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        &self.bytes[start..self.ends[index]]
    }

    /// Keeps the first `at` bodies and returns the rest as a batch of their own.
    #[must_use]
    pub fn split_off(&mut self, at: usize) -> BodyBatch {
        if at >= self.len() {
            return BodyBatch::default();
        }
        let cut = if at == 0 { 0 } else { self.ends[at - 1] };
        let bytes = self.bytes.split_off(cut);
        let ends = self
            .ends
            .split_off(at)
            .iter()
            .map(|end| end - cut)
            .collect();
        BodyBatch { bytes, ends }
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

    #[test]
    fn keeps_bodies_apart_including_empty_ones() {
        let batch = batch(&[b"a", b"", b"\x00\xff", b"xyz"]);
        let bodies: Vec<&[u8]> = batch.iter().collect();
        assert_eq!(bodies, [&b"a"[..], b"", b"\x00\xff", b"xyz"]);
        assert_eq!(batch.byte_len(), 6);
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
}
