//! Sorting read entries: deliver, dead-letter after too many deliveries, or ack off
//! entries that have no body.

use crate::connection::Connection;
use crate::error::Error;
use crate::reader::{Delivery, ReaderEvents};
use crate::reply::Entry;
use redis::Value;
use std::collections::HashMap;

/// Everything needed to triage the entries of one shard stream.
#[derive(Clone)]
pub struct Triage {
    pub shard: usize,
    pub stream: String,
    pub dead_letters: String,
    pub group: String,
    pub consumer: String,
    /// Deliveries after which an entry is dead-lettered; `None` never does.
    pub max_deliveries: Option<u64>,
}

impl Triage {
    /// Entries read with `>` have been delivered once: nothing to look up.
    pub fn fresh(&self, entries: Vec<Entry>, events: &dyn ReaderEvents) -> Vec<Delivery> {
        let mut batch = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.body {
                Some(body) => {
                    batch.push(Delivery {
                        shard: self.shard,
                        id: entry.id,
                        body,
                        deliveries: 1,
                    });
                }
                None => events.invalid_entry(self.shard, entry.id),
            }
        }
        batch
    }

    /// Entries delivered before (backlog or claimed): their delivery counts decide
    /// whether they are delivered again or dead-lettered.
    pub async fn redelivered(
        &self,
        connection: &mut Connection,
        entries: Vec<Entry>,
        events: &dyn ReaderEvents,
    ) -> Vec<Delivery> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Vec::new();
        };
        let counts = match self
            .delivery_counts(connection, &first.id, &last.id, entries.len())
            .await
        {
            Ok(counts) => counts,
            Err(e) => {
                events.error(self.error("XPENDING", &e));
                HashMap::new()
            }
        };
        let mut batch = Vec::with_capacity(entries.len());
        for Entry { id, body } in entries {
            let deliveries = counts.get(&id).copied().unwrap_or(1);
            match body {
                None => events.invalid_entry(self.shard, id),
                Some(body) if self.max_deliveries.is_some_and(|max| deliveries > max) => {
                    match self.dead_letter(connection, &id, &body, deliveries).await {
                        Ok(()) => events.dead_lettered(self.shard, id, deliveries),
                        Err(e) => events.error(self.error("XADD", &e)),
                    }
                }
                Some(body) => batch.push(Delivery {
                    shard: self.shard,
                    id,
                    body,
                    deliveries,
                }),
            }
        }
        batch
    }

    /// Delivery counts of this consumer's pending entries between `first` and `last`.
    async fn delivery_counts(
        &self,
        connection: &mut Connection,
        first: &str,
        last: &str,
        count: usize,
    ) -> redis::RedisResult<HashMap<String, u64>> {
        let reply: Value = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(first)
            .arg(last)
            .arg(count)
            .arg(&self.consumer)
            .query_async(connection)
            .await?;
        Ok(parse_pending(reply))
    }

    /// Moves one entry to the dead-letter stream (same hash slot) and acks it off the
    /// queue, atomically.
    async fn dead_letter(
        &self,
        connection: &mut Connection,
        id: &str,
        body: &[u8],
        deliveries: u64,
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(&self.dead_letters)
            .arg("*")
            .arg("m")
            .arg(body)
            .arg("reason")
            .arg("max_deliveries")
            .arg("deliveries")
            .arg(deliveries)
            .arg("id")
            .arg(id)
            .arg("stream")
            .arg(&self.stream)
            .ignore()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(id)
            .ignore();
        pipe.query_async(connection).await
    }

    fn error(&self, command: &'static str, error: &redis::RedisError) -> Error {
        Error::Server {
            command,
            key: self.stream.clone(),
            code: error.code().unwrap_or_default().to_owned(),
            detail: error
                .detail()
                .map_or_else(|| error.to_string(), str::to_owned),
        }
    }
}

/// `XPENDING` extended replies: `[[id, consumer, idle, deliveries], ...]`.
fn parse_pending(reply: Value) -> HashMap<String, u64> {
    let Value::Array(rows) = reply else {
        return HashMap::new();
    };
    rows.into_iter()
        .filter_map(|row| match row {
            Value::Array(fields) => match fields.as_slice() {
                [Value::BulkString(id), _, _, Value::Int(count)] => Some((
                    String::from_utf8_lossy(id).into_owned(),
                    (*count).max(1) as u64,
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_give_delivery_counts() {
        let row = |id: &str, count| {
            Value::Array(vec![
                Value::BulkString(id.into()),
                Value::BulkString(b"c".to_vec()),
                Value::Int(10),
                Value::Int(count),
            ])
        };
        let counts = parse_pending(Value::Array(vec![row("1-0", 3), row("2-0", 1)]));
        assert_eq!(counts.get("1-0"), Some(&3));
        assert_eq!(counts.get("2-0"), Some(&1));
        assert!(parse_pending(Value::Nil).is_empty());
    }
}
