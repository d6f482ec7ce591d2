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

/// An XAUTOCLAIM reply: the next cursor, the claimed entries, and (Redis 7.0+) the ids
/// that were pending but no longer exist, which the server dropped from the PEL.
pub struct Claimed {
    pub cursor: String,
    pub entries: Vec<Entry>,
    pub deleted: Vec<String>,
}

pub fn parse_claim_reply(reply: Value) -> Result<Claimed, String> {
    let Value::Array(parts) = reply else {
        return Err(format!("unexpected XAUTOCLAIM reply {reply:?}"));
    };
    let mut parts = parts.into_iter();
    let cursor = match parts.next() {
        Some(Value::BulkString(cursor)) => String::from_utf8_lossy(&cursor).into_owned(),
        Some(Value::SimpleString(cursor)) => cursor,
        other => return Err(format!("XAUTOCLAIM cursor is {other:?}")),
    };
    let entries = match parts.next() {
        Some(Value::Array(raw)) => raw.into_iter().map(parse_entry).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let deleted = match parts.next() {
        Some(Value::Array(ids)) => ids
            .into_iter()
            .filter_map(|id| match id {
                Value::BulkString(id) => Some(String::from_utf8_lossy(&id).into_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Claimed {
        cursor,
        entries,
        deleted,
    })
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
    fn claim_replies_carry_cursor_entries_and_deleted_ids() {
        let reply = Value::Array(vec![
            bulk(b"5-0"),
            Value::Array(vec![entry("3-0", Some(vec![bulk(b"m"), bulk(b"x")]))]),
            Value::Array(vec![bulk(b"4-0")]),
        ]);
        let claimed = parse_claim_reply(reply).unwrap();
        assert_eq!(claimed.cursor, "5-0");
        assert_eq!(
            claimed.entries,
            [Entry {
                id: "3-0".into(),
                body: Some(b"x".to_vec())
            }]
        );
        assert_eq!(claimed.deleted, ["4-0"]);
    }

    #[test]
    fn nil_means_nothing_new() {
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
        assert!(parse_read_reply(Value::Int(1)).is_err());
    }
}
