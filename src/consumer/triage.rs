//! Sorting read entries: deliver, dead-letter after too many deliveries, or ack off
//! entries that have no body.

use crate::cluster::connection::Connection;
use crate::cluster::retry::script_refused;
use crate::consumer::delivery::{Delivery, Place, ReaderEvents};
use crate::error::Error;
use crate::wire::headers::{Headers, PREFIX};
use crate::wire::reply::Entry;
use redis::Value;
use std::collections::HashMap;

const DEAD_LETTER_SCRIPT: &str = include_str!("dead_letter.lua");
const REASON: &str = "max_deliveries";

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
    /// Entries read with `>` (read number `run`) have been delivered once: nothing to
    /// look up.
    pub fn fresh(&self, entries: Vec<Entry>, run: u64, events: &dyn ReaderEvents) -> Vec<Delivery> {
        let mut batch = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            match entry.body {
                Some(body) => {
                    batch.push(Delivery {
                        shard: self.shard,
                        id: entry.id,
                        body,
                        headers: entry.headers,
                        deliveries: 1,
                        place: Place {
                            run,
                            index: index as u32,
                        },
                    });
                }
                None => events.invalid_entry(self.shard, entry.id),
            }
        }
        batch
    }

    /// Entries of this consumer's own backlog, read again: their delivery counts decide
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
        // The backlog read returns this consumer's pending entries in id order, so its
        // pending entries between the first and the last are exactly these.
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
        let counted = entries.into_iter().map(|entry| {
            let deliveries = counts.get(&entry.id).copied().unwrap_or(1);
            (entry, deliveries)
        });
        self.sort(connection, counted, events).await
    }

    /// Entries with their delivery counts: delivered, dead-lettered or acked off.
    pub async fn sort(
        &self,
        connection: &mut Connection,
        entries: impl Iterator<Item = (Entry, u64)>,
        events: &dyn ReaderEvents,
    ) -> Vec<Delivery> {
        let mut batch = Vec::with_capacity(entries.size_hint().0);
        for (Entry { id, body, headers }, deliveries) in entries {
            match body {
                None => events.invalid_entry(self.shard, id),
                Some(body) if self.max_deliveries.is_some_and(|max| deliveries > max) => {
                    // The server counted this read too, but it is refused: the
                    // application got the entry one time less.
                    let delivered = deliveries - 1;
                    let letter = Letter {
                        id: &id,
                        body: &body,
                        headers: &headers,
                        deliveries: delivered,
                    };
                    match self.dead_letter(connection, &letter).await {
                        Ok(()) => events.dead_lettered(self.shard, id, delivered),
                        Err(e) => events.error(e),
                    }
                }
                Some(body) => batch.push(Delivery {
                    shard: self.shard,
                    id,
                    body,
                    headers,
                    deliveries,
                    place: Place::default(),
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
        Ok(parse_pending(reply)
            .into_iter()
            .map(|row| (row.id, row.deliveries))
            .collect())
    }

    /// Moves one entry to the dead-letter stream (same hash slot) and acks it off the
    /// queue, all or nothing (`dead_letter.lua`). A server that refuses scripts gets the
    /// XADD first and the XACK+XDEL only once it succeeded: a crash between the two
    /// leaves a copy in both streams, never in neither.
    async fn dead_letter(
        &self,
        connection: &mut Connection,
        letter: &Letter<'_>,
    ) -> Result<(), Error> {
        let mut script = redis::cmd("EVAL");
        script
            .arg(DEAD_LETTER_SCRIPT)
            .arg(2)
            .arg(&self.stream)
            .arg(&self.dead_letters)
            .arg(&self.group)
            .arg(letter.id);
        let moved: redis::RedisResult<Value> = self
            .with_fields(script, letter)
            .query_async(connection)
            .await;
        match moved {
            Ok(_) => Ok(()),
            Err(e) if script_refused(e.code().unwrap_or_default(), &e.to_string()) => {
                self.dead_letter_in_steps(connection, letter).await
            }
            Err(e) => Err(self.error("XADD", &e)),
        }
    }

    /// `cmd` followed by a dead letter's fields: the body as `m`, then why, how often it
    /// was delivered, and where it came from, then its headers as they were (`h:NAME`),
    /// so a replay gives them back.
    fn with_fields(&self, mut cmd: redis::Cmd, letter: &Letter<'_>) -> redis::Cmd {
        cmd.arg("m")
            .arg(letter.body)
            .arg("reason")
            .arg(REASON)
            .arg("deliveries")
            .arg(letter.deliveries)
            .arg("id")
            .arg(letter.id)
            .arg("stream")
            .arg(&self.stream);
        for (name, value) in letter.headers {
            cmd.arg([PREFIX, name.as_bytes()].concat()).arg(value);
        }
        cmd
    }

    async fn dead_letter_in_steps(
        &self,
        connection: &mut Connection,
        letter: &Letter<'_>,
    ) -> Result<(), Error> {
        let id = letter.id;
        let mut add = redis::cmd("XADD");
        add.arg(&self.dead_letters).arg("*");
        self.with_fields(add, letter)
            .query_async::<Value>(connection)
            .await
            .map_err(|e| self.error("XADD", &e))?;
        let mut pipe = redis::pipe();
        pipe.cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(id)
            .ignore();
        pipe.query_async::<()>(connection)
            .await
            .map_err(|e| self.error("XACK", &e))
    }

    pub fn error(&self, command: &'static str, error: &redis::RedisError) -> Error {
        Error::server(command, self.stream.clone(), error)
    }
}

/// An entry on its way to the dead-letter stream.
struct Letter<'a> {
    id: &'a str,
    body: &'a [u8],
    headers: &'a Headers,
    deliveries: u64,
}

/// One row of an extended `XPENDING` reply.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingRow {
    pub id: String,
    pub consumer: String,
    pub deliveries: u64,
}

/// `XPENDING` extended replies: `[[id, consumer, idle, deliveries], ...]`.
pub fn parse_pending(reply: Value) -> Vec<PendingRow> {
    let Value::Array(rows) = reply else {
        return Vec::new();
    };
    rows.into_iter()
        .filter_map(|row| match row {
            Value::Array(fields) => match fields.as_slice() {
                [Value::BulkString(id), Value::BulkString(consumer), _, Value::Int(count)] => {
                    Some(PendingRow {
                        id: String::from_utf8_lossy(id).into_owned(),
                        consumer: String::from_utf8_lossy(consumer).into_owned(),
                        deliveries: (*count).max(0) as u64,
                    })
                }
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
        let rows = parse_pending(Value::Array(vec![row("1-0", 3), row("2-0", 1)]));
        assert_eq!(
            rows[0],
            PendingRow {
                id: "1-0".into(),
                consumer: "c".into(),
                deliveries: 3
            }
        );
        assert_eq!(rows[1].deliveries, 1);
        assert!(parse_pending(Value::Nil).is_empty());
    }
}
