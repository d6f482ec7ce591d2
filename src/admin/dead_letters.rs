//! The dead-letter streams `qu{i}:dlq:NAME`: count, list, replay and purge what the
//! consumers gave up on.

use super::replies::{entries, number, text};
use super::Admin;
use crate::error::Result;
use crate::wire::headers::{header_name, Headers};
use redis::Value;

const REPLAY_SCRIPT: &str = include_str!("replay.lua");
const PURGE_SCRIPT: &str = include_str!("purge.lua");

/// How many dead letters one command reads or deletes when taking them all.
const BATCH: usize = 500;

/// One entry of a dead-letter stream, with the fields the consumer wrote.
pub struct DeadLetter {
    pub shard: usize,
    pub id: String,
    pub body: Vec<u8>,
    pub reason: String,
    pub deliveries: u64,
    pub original_id: String,
    pub original_stream: String,
    /// The headers the message had (fields `h:NAME`).
    pub headers: Headers,
}

impl Admin {
    pub async fn dead_letter_count(&self) -> Result<u64> {
        let mut total = 0;
        for shard in 0..self.shards() {
            let key = self.dead_letter_stream(shard);
            total += self
                .query::<u64>(&key, "XLEN", redis::cmd("XLEN").arg(&key))
                .await?;
        }
        Ok(total)
    }

    /// Up to `count` dead letters of `shard` with ids from `start` to `end` (`XRANGE`
    /// bounds: `-`, `+`, an id, or `(` and an id to leave it out).
    pub async fn dead_letters(
        &self,
        shard: usize,
        start: &str,
        end: &str,
        count: usize,
    ) -> Result<Vec<DeadLetter>> {
        let key = self.dead_letter_stream(shard);
        let cmd = redis::cmd("XRANGE")
            .arg(&key)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(count)
            .clone();
        let reply = self.query::<Value>(&key, "XRANGE", &cmd).await?;
        Ok(entries(reply)
            .into_iter()
            .map(|(id, fields)| self.letter(shard, id, fields))
            .collect())
    }

    /// Replays one dead letter; false when it is gone or has no body.
    pub async fn replay(&self, shard: usize, id: &str) -> Result<bool> {
        let stream = self.stream(shard);
        let cmd = redis::cmd("EVAL")
            .arg(REPLAY_SCRIPT)
            .arg(2)
            .arg(&stream)
            .arg(self.dead_letter_stream(shard))
            .arg(id)
            .clone();
        Ok(self.query::<u64>(&stream, "EVAL", &cmd).await? == 1)
    }

    /// Replays every dead letter present when it starts, in batches: letters that fail
    /// again meanwhile land after the end it fixed, so none is replayed in a loop.
    pub async fn replay_all(&self) -> Result<u64> {
        let mut replayed = 0;
        for shard in 0..self.shards() {
            let key = self.dead_letter_stream(shard);
            let cmd = redis::cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .clone();
            let newest = entries(self.query::<Value>(&key, "XREVRANGE", &cmd).await?);
            let Some((end, _)) = newest.into_iter().next() else {
                continue;
            };
            let mut start = "-".to_owned();
            loop {
                let batch = self.dead_letters(shard, &start, &end, BATCH).await?;
                for letter in &batch {
                    replayed += u64::from(self.replay(shard, &letter.id).await?);
                }
                match batch.last() {
                    Some(last) if batch.len() == BATCH => start = format!("({}", last.id),
                    _ => break,
                }
            }
        }
        Ok(replayed)
    }

    /// Deletes every dead-letter stream of the queue; returns how many letters it held.
    pub async fn purge_all(&self) -> Result<u64> {
        let mut purged = 0;
        for shard in 0..self.shards() {
            let key = self.dead_letter_stream(shard);
            let cmd = redis::cmd("EVAL")
                .arg(PURGE_SCRIPT)
                .arg(1)
                .arg(&key)
                .clone();
            purged += self.query::<u64>(&key, "EVAL", &cmd).await?;
        }
        Ok(purged)
    }

    /// Deletes the dead letters `ids` of `shard`; returns how many existed.
    pub async fn purge(&self, shard: usize, ids: &[String]) -> Result<u64> {
        let key = self.dead_letter_stream(shard);
        let mut deleted = 0;
        for chunk in ids.chunks(BATCH) {
            let cmd = redis::cmd("XDEL").arg(&key).arg(chunk).clone();
            deleted += self.query::<u64>(&key, "XDEL", &cmd).await?;
        }
        Ok(deleted)
    }

    fn letter(&self, shard: usize, id: String, fields: Vec<(String, Value)>) -> DeadLetter {
        let mut letter = DeadLetter {
            shard,
            id,
            body: Vec::new(),
            reason: String::new(),
            deliveries: 0,
            original_id: String::new(),
            original_stream: self.stream(shard),
            headers: Headers::new(),
        };
        // The first of a repeated field counts, as for `m` in the queue's own entries.
        let mut seen = Vec::new();
        for (name, value) in fields {
            if seen.contains(&name) {
                continue;
            }
            match name.as_str() {
                "m" => letter.body = bytes(value),
                "reason" => letter.reason = text(&value).unwrap_or_default(),
                "deliveries" => letter.deliveries = number(&value).unwrap_or(0),
                "id" => letter.original_id = text(&value).unwrap_or_default(),
                "stream" => {
                    letter.original_stream = text(&value).unwrap_or(letter.original_stream);
                }
                field => {
                    if let Some(header) = header_name(field.as_bytes()) {
                        let header = String::from_utf8_lossy(header).into_owned();
                        letter.headers.push((header, bytes(value)));
                    }
                }
            }
            seen.push(name);
        }
        letter
    }
}

fn bytes(value: Value) -> Vec<u8> {
    match value {
        Value::BulkString(bytes) => bytes,
        other => text(&other).unwrap_or_default().into_bytes(),
    }
}
