//! The newest entries of a queue, and the ones written after them, over all shards:
//! what `ami tail` prints. It reads with `XRANGE`, so it takes nothing from the group.

use super::replies::entries;
use super::Admin;
use crate::error::Result;
use crate::wire::headers::{header_name, Headers};
use crate::wire::stream_id::StreamId;
use redis::Value;

/// One queue entry; `body` is `None` for an entry without field `m`.
pub struct TailEntry {
    pub shard: usize,
    pub id: StreamId,
    pub body: Option<Vec<u8>>,
    pub headers: Headers,
}

impl Admin {
    /// The `count` newest entries over all shards, oldest first, and for each shard the
    /// id to read on from (its newest entry, `0-0` when empty).
    pub async fn newest(&self, count: usize) -> Result<(Vec<TailEntry>, Vec<StreamId>)> {
        let mut newest = Vec::new();
        let mut cursors = Vec::with_capacity(self.shards());
        for shard in 0..self.shards() {
            let key = self.stream(shard);
            // At least one entry, to know where to read on from even with `count` 0.
            let cmd = redis::cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(count.max(1))
                .clone();
            let shard_entries = parse(shard, self.query(&key, "XREVRANGE", &cmd).await?);
            cursors.push(
                shard_entries
                    .first()
                    .map_or_else(StreamId::default, |e| e.id),
            );
            newest.extend(shard_entries.into_iter().take(count));
        }
        sort(&mut newest);
        let skip = newest.len().saturating_sub(count);
        Ok((newest.split_off(skip), cursors))
    }

    /// Up to `count` entries per shard after `cursors`, which move past what was read.
    pub async fn after(&self, cursors: &mut [StreamId], count: usize) -> Result<Vec<TailEntry>> {
        let mut read = Vec::new();
        for (shard, cursor) in cursors.iter_mut().enumerate().take(self.shards()) {
            let key = self.stream(shard);
            let cmd = redis::cmd("XRANGE")
                .arg(&key)
                .arg(format!("({cursor}"))
                .arg("+")
                .arg("COUNT")
                .arg(count)
                .clone();
            let shard_entries = parse(shard, self.query(&key, "XRANGE", &cmd).await?);
            if let Some(last) = shard_entries.last() {
                *cursor = last.id;
            }
            read.extend(shard_entries);
        }
        sort(&mut read);
        Ok(read)
    }
}

fn parse(shard: usize, reply: Value) -> Vec<TailEntry> {
    entries(reply)
        .into_iter()
        .filter_map(|(id, fields)| {
            let mut body = None;
            let mut headers = Headers::new();
            for (name, value) in fields {
                let Value::BulkString(value) = value else {
                    continue;
                };
                if name == "m" {
                    body.get_or_insert(value);
                } else if let Some(header) = header_name(name.as_bytes()) {
                    headers.push((String::from_utf8_lossy(header).into_owned(), value));
                }
            }
            Some(TailEntry {
                shard,
                id: StreamId::parse(&id)?,
                body,
                headers,
            })
        })
        .collect()
}

/// By id, so entries of all shards interleave roughly by time.
fn sort(entries: &mut [TailEntry]) {
    entries.sort_by_key(|entry| (entry.id, entry.shard));
}
