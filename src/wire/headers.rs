//! Message headers on the wire: one extra entry field per header, `h:NAME VALUE`, after
//! the body's field `m`.
//!
//! Readers that know only `m` (the Go ami, older versions of ami) skip the extra fields,
//! and entries without them read as messages without headers. ami's own fields (`m`, and
//! those of dead letters: `reason`, `deliveries`, `id`, `stream`) never start with `h:`,
//! and no later one will.

/// What every header's field name starts with.
pub const PREFIX: &[u8] = b"h:";

/// The longest header name, in bytes of UTF-8 (the prefix not counted).
pub const MAX_NAME: usize = 255;

/// Headers as a consumer reads them: names (UTF-8) and values, in the entry's order.
pub type Headers = Vec<(String, Vec<u8>)>;

/// Headers packed end to end for the producer's buffer, validated as they were added:
/// per header `[u32 name length][name][u32 value length][value]`, little-endian.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackedHeaders {
    bytes: Vec<u8>,
    count: u32,
    /// Names and values, in bytes: what counts toward `max_message_bytes`.
    size: usize,
}

impl PackedHeaders {
    /// Appends one header; refuses a name that is empty, longer than `MAX_NAME` bytes or
    /// holds a control character, saying why.
    pub fn push(&mut self, name: &str, value: &[u8]) -> Result<(), String> {
        check_name(name)?;
        let value_len = u32::try_from(value.len())
            .map_err(|_| format!("header {name:?}: a value of {} bytes", value.len()))?;
        self.bytes.reserve(8 + name.len() + value.len());
        self.bytes
            .extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(&value_len.to_le_bytes());
        self.bytes.extend_from_slice(value);
        self.count += 1;
        self.size += name.len() + value.len();
        Ok(())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets every header, keeping the allocation for the next message.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
        self.size = 0;
    }

    /// How many headers.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Names and values, in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The packed form, as `unpack` reads it.
    #[must_use]
    pub fn packed(&self) -> &[u8] {
        &self.bytes
    }
}

/// The names and values of headers packed by `PackedHeaders`.
pub fn unpack(mut packed: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        if packed.is_empty() {
            return None;
        }
        let (name, rest) = take_field(packed);
        let (value, rest) = take_field(rest);
        packed = rest;
        Some((name, value))
    })
}

fn take_field(packed: &[u8]) -> (&[u8], &[u8]) {
    let (length, rest) = packed.split_at(4);
    let length = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
    rest.split_at(length)
}

/// Refuses a header name that is empty, longer than `MAX_NAME` bytes, or holds a control
/// character (they would garble every tool that prints names).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a header name must not be empty".to_owned());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "header name {:?}... is {} bytes long, more than {MAX_NAME}",
            name.chars().take(20).collect::<String>(),
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "header name {name:?} holds the control character {c:?}"
        ));
    }
    Ok(())
}

/// The header name an entry field carries, or `None` for a field that is no header.
#[must_use]
pub fn header_name(field: &[u8]) -> Option<&[u8]> {
    field.strip_prefix(PREFIX)
}

/// A header read from an entry field `h:NAME` and its value. Names that are not UTF-8
/// (only another writer could make them) are read with U+FFFD in place of bad bytes.
#[must_use]
pub fn read_header(name: &[u8], value: &[u8]) -> (String, Vec<u8>) {
    (String::from_utf8_lossy(name).into_owned(), value.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_headers_unpack_in_order() {
        let mut headers = PackedHeaders::default();
        headers.push("traceparent", b"00-ab-cd-01").unwrap();
        headers.push("é", b"").unwrap();
        let unpacked: Vec<_> = unpack(headers.packed()).collect();
        assert_eq!(
            unpacked,
            [
                (&b"traceparent"[..], &b"00-ab-cd-01"[..]),
                ("é".as_bytes(), &b""[..])
            ]
        );
        assert_eq!(headers.count(), 2);
        assert_eq!(headers.size(), 11 + 11 + 2);
        assert!(unpack(&[]).next().is_none());
    }

    #[test]
    fn names_are_checked() {
        let mut headers = PackedHeaders::default();
        assert!(headers.push("", b"x").is_err());
        assert!(headers.push("a\nb", b"x").is_err());
        assert!(headers.push("a\u{7f}", b"x").is_err());
        assert!(headers.push(&"n".repeat(MAX_NAME + 1), b"x").is_err());
        assert!(headers.push(&"n".repeat(MAX_NAME), b"x").is_ok());
        assert!(headers.push("with space:and-colon", b"\r\n\x00").is_ok());
        assert_eq!(headers.count(), 2);
    }

    #[test]
    fn only_prefixed_fields_are_headers() {
        assert_eq!(header_name(b"h:trace"), Some(&b"trace"[..]));
        assert_eq!(header_name(b"h:"), Some(&b""[..]));
        assert_eq!(header_name(b"m"), None);
        assert_eq!(header_name(b"reason"), None);
        assert_eq!(read_header(b"\xffx", b"v").0, "\u{fffd}x");
    }
}
