//! Parsing XREADGROUP replies into entries, moving bodies out without copying.

use crate::wire::headers::{header_name, read_header, Headers};
use redis::Value;

/// One stream entry as read. `body` is `None` when the entry was deleted while pending
/// or has no field `m`; `headers` are its `h:NAME` fields (see `wire::headers`), empty
/// for most entries, and then unallocated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub body: Option<Vec<u8>>,
    pub headers: Headers,
}

impl Entry {
    /// An entry without a body (deleted, or foreign).
    #[must_use]
    pub fn without_body(id: String) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

/// The entries of a single-stream XREADGROUP reply (nil when BLOCK timed out).
pub fn parse_read_reply(reply: Value) -> Result<Vec<Entry>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => return Err(format!("unexpected XREADGROUP reply {other:?}")),
    };
    let mut entries = Vec::new();
    for stream in streams {
        let Value::Array(mut key_and_entries) = stream else {
            return Err("XREADGROUP stream is not a [key, entries] pair".to_owned());
        };
        let Some(Value::Array(raw_entries)) = key_and_entries.pop() else {
            return Err("XREADGROUP stream has no entry list".to_owned());
        };
        entries.reserve(raw_entries.len());
        for raw in raw_entries {
            entries.push(parse_entry(raw)?);
        }
    }
    Ok(entries)
}

/// The entries of an XCLAIM reply; entries that no longer exist are left out (Redis 7.0
/// drops them from the PEL itself, 6.2 answers nil for them).
pub fn parse_claimed(reply: Value) -> Result<Vec<Entry>, String> {
    let Value::Array(raw) = reply else {
        return Err(format!("unexpected XCLAIM reply {reply:?}"));
    };
    raw.into_iter()
        .filter(|entry| *entry != Value::Nil)
        .map(parse_entry)
        .collect()
}

fn parse_entry(raw: Value) -> Result<Entry, String> {
    let Value::Array(parts) = raw else {
        return Err("stream entry is not an array".to_owned());
    };
    let mut parts = parts.into_iter();
    let id = match parts.next() {
        Some(Value::BulkString(id)) => String::from_utf8(id).map_err(|e| e.to_string())?,
        Some(Value::SimpleString(id)) => id,
        other => return Err(format!("stream entry id is {other:?}")),
    };
    let (body, headers) = match parts.next() {
        Some(Value::Array(fields)) => body_and_headers(fields),
        _ => (None, Headers::new()),
    };
    Ok(Entry { id, body, headers })
}

/// The value of the first field `m` among the entry's field/value pairs, and its headers.
fn body_and_headers(fields: Vec<Value>) -> (Option<Vec<u8>>, Headers) {
    let mut body = None;
    let mut headers = Headers::new();
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        let (Value::BulkString(name), Value::BulkString(value)) = (name, value) else {
            continue;
        };
        if name == b"m" {
            if body.is_none() {
                body = Some(value);
            }
        } else if let Some(header) = header_name(&name) {
            headers.push(read_header(header, &value));
        }
    }
    (body, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    fn entry(id: &str, fields: Option<Vec<Value>>) -> Value {
        Value::Array(vec![
            bulk(id.as_bytes()),
            fields.map_or(Value::Nil, Value::Array),
        ])
    }

    #[test]
    fn reads_bodies_and_marks_deleted_or_foreign_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk(b"qu{0}_q"),
            Value::Array(vec![
                entry("1-0", Some(vec![bulk(b"m"), bulk(b"\x00body")])),
                entry("2-0", None),
                entry("3-0", Some(vec![bulk(b"x"), bulk(b"y")])),
            ]),
        ])]);
        let entries = parse_read_reply(reply).unwrap();
        assert_eq!(
            entries,
            [
                Entry {
                    id: "1-0".into(),
                    body: Some(b"\x00body".to_vec()),
                    headers: vec![],
                },
                Entry::without_body("2-0".into()),
                Entry::without_body("3-0".into()),
            ]
        );
    }

    #[test]
    fn claim_replies_leave_out_deleted_entries() {
        let reply = Value::Array(vec![
            entry("3-0", Some(vec![bulk(b"m"), bulk(b"x")])),
            Value::Nil,
        ]);
        assert_eq!(
            parse_claimed(reply).unwrap(),
            [Entry {
                id: "3-0".into(),
                body: Some(b"x".to_vec()),
                headers: vec![],
            }]
        );
    }

    #[test]
    fn header_fields_are_read_after_or_before_the_body() {
        let reply = Value::Array(vec![
            entry(
                "1-0",
                Some(vec![
                    bulk(b"m"),
                    bulk(b"b"),
                    bulk(b"h:trace"),
                    bulk(b"t"),
                    bulk(b"other"),
                    bulk(b"x"),
                ]),
            ),
            entry(
                "2-0",
                Some(vec![bulk(b"h:k"), bulk(b"v"), bulk(b"m"), bulk(b"c")]),
            ),
        ]);
        let entries = parse_claimed(reply).unwrap();
        assert_eq!(entries[0].body.as_deref(), Some(&b"b"[..]));
        assert_eq!(entries[0].headers, [("trace".to_owned(), b"t".to_vec())]);
        assert_eq!(entries[1].body.as_deref(), Some(&b"c"[..]));
        assert_eq!(entries[1].headers, [("k".to_owned(), b"v".to_vec())]);
    }

    #[test]
    fn nil_means_nothing_new() {
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
        assert!(parse_read_reply(Value::Int(1)).is_err());
    }
}
