//! Reading the loosely typed replies of the inspection commands (`XINFO`, `XPENDING`,
//! `XRANGE`) the way Redis 6.2 to Valkey 8 send them, RESP2 or RESP3.

use crate::error::Error;
use redis::Value;

/// A number sent as an integer or as digits.
pub fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(digits) => std::str::from_utf8(digits).ok()?.parse().ok(),
        Value::SimpleString(digits) => digits.parse().ok(),
        _ => None,
    }
}

pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// A flat `[key, value, ...]` array (RESP2) or a map (RESP3) as pairs.
pub fn pairs(value: Value) -> Vec<(String, Value)> {
    match value {
        Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| Some((text(&k)?, v)))
            .collect(),
        Value::Array(items) => {
            let mut items = items.into_iter();
            let mut out = Vec::new();
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                if let Some(key) = text(&key) {
                    out.push((key, value));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

pub fn items(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => Vec::new(),
    }
}

/// True for the refusals that mean "not there yet": no stream, no group.
pub fn is_missing(error: &Error) -> bool {
    matches!(error, Error::Server { code, detail, .. }
        if code == "NOGROUP" || detail.to_ascii_lowercase().contains("no such key"))
}

/// Raw entries of an `XRANGE` reply: id and field/value pairs.
pub fn entries(reply: Value) -> Vec<(String, Vec<(String, Value)>)> {
    items(reply)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = items(entry).into_iter();
            let id = text(&parts.next()?)?;
            Some((id, parts.next().map(pairs).unwrap_or_default()))
        })
        .collect()
}
