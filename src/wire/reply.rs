//! Parsing XREADGROUP replies into entries, moving bodies out without copying.

use redis::Value;

/// One stream entry as read. `body` is `None` when the entry was deleted while pending
/// or has no field `m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub body: Option<Vec<u8>>,
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
    let body = match parts.next() {
        Some(Value::Array(fields)) => field_m(fields),
        _ => None,
    };
    Ok(Entry { id, body })
}

/// The value of field `m` among the entry's field/value pairs.
fn field_m(fields: Vec<Value>) -> Option<Vec<u8>> {
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if matches!(&name, Value::BulkString(n) if n == b"m") {
            if let Value::BulkString(body) = value {
                return Some(body);
            }
        }
    }
    None
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
                    body: Some(b"\x00body".to_vec())
                },
                Entry {
                    id: "2-0".into(),
                    body: None
                },
                Entry {
                    id: "3-0".into(),
                    body: None
                },
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
                body: Some(b"x".to_vec())
            }]
        );
    }

    #[test]
    fn nil_means_nothing_new() {
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
        assert!(parse_read_reply(Value::Int(1)).is_err());
    }
}
