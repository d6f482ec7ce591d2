//! What Redis already tracks about each shard (`XLEN`, `XINFO GROUPS`, `XPENDING`,
//! `XINFO CONSUMERS`), read without consuming anything.

use super::replies::{is_missing, items, number, pairs, text};
use super::Admin;
use crate::cluster::nodes::Nodes;
use crate::error::Result;
use redis::Value;

/// Above this many undelivered entries, counting the lag by reading costs too much.
const LAG_SCAN_LIMIT: usize = 10_000;

pub struct ShardStats {
    pub stream: String,
    /// The master holding the stream (`host:port`), `None` when the slot map is unknown.
    pub master: Option<String>,
    pub length: u64,
    pub dead_letters: u64,
    /// `None` when the queue's group does not exist on this shard.
    pub group: Option<GroupStats>,
}

pub struct GroupStats {
    pub last_delivered_id: String,
    pub pending: u64,
    /// `None` when unknown: not reported, and too many entries to count.
    pub lag: Option<u64>,
    /// Milliseconds since the oldest pending entry was added, by the server's clock.
    pub oldest_pending_age_ms: Option<u64>,
    pub consumers: Vec<ConsumerStats>,
}

pub struct ConsumerStats {
    pub name: String,
    pub pending: u64,
    pub idle_ms: u64,
}

impl Admin {
    pub async fn shard_stats(&self) -> Result<Vec<ShardStats>> {
        let nodes = Nodes::load(self.connection.clone()).await;
        let mut shards = Vec::with_capacity(self.shards());
        for shard in 0..self.shards() {
            let mut stats = self.one_shard(shard).await?;
            stats.master = nodes.master_of(&stats.stream);
            shards.push(stats);
        }
        Ok(shards)
    }

    async fn one_shard(&self, shard: usize) -> Result<ShardStats> {
        let stream = self.stream(shard);
        let dead_letter_stream = self.dead_letter_stream(shard);
        let length = self
            .query(&stream, "XLEN", redis::cmd("XLEN").arg(&stream))
            .await?;
        let dead_letters = self
            .query(
                &dead_letter_stream,
                "XLEN",
                redis::cmd("XLEN").arg(&dead_letter_stream),
            )
            .await?;
        let group = match self.group_info(&stream).await? {
            Some(info) => Some(self.group_stats(&stream, info, length).await?),
            None => None,
        };
        Ok(ShardStats {
            stream,
            master: None,
            length,
            dead_letters,
            group,
        })
    }

    /// The `XINFO GROUPS` fields of the queue's group; `None` without stream or group.
    async fn group_info(&self, stream: &str) -> Result<Option<Vec<(String, Value)>>> {
        let group = self.group();
        let reply = self
            .query::<Value>(
                stream,
                "XINFO",
                redis::cmd("XINFO").arg("GROUPS").arg(stream),
            )
            .await;
        let groups = match reply {
            Err(e) if is_missing(&e) => return Ok(None),
            other => other?,
        };
        Ok(items(groups)
            .into_iter()
            .map(pairs)
            .find(|fields| field(fields, "name").and_then(text).as_deref() == Some(&group)))
    }

    async fn group_stats(
        &self,
        stream: &str,
        info: Vec<(String, Value)>,
        length: u64,
    ) -> Result<GroupStats> {
        let last_delivered_id = field(&info, "last-delivered-id")
            .and_then(text)
            .unwrap_or_else(|| "0-0".to_owned());
        let (pending, oldest) = self.pending_summary(stream).await?;
        let lag = match field(&info, "lag").and_then(number) {
            Some(lag) => Some(lag),
            None => self.count_after(stream, &last_delivered_id, length).await?,
        };
        let oldest_pending_age_ms = match oldest {
            Some(id) => self.age_ms(stream, &id).await?,
            None => None,
        };
        Ok(GroupStats {
            last_delivered_id,
            pending,
            lag,
            oldest_pending_age_ms,
            consumers: self.consumers(stream).await?,
        })
    }

    /// `(count, oldest pending id)` from the summary form of `XPENDING`.
    async fn pending_summary(&self, stream: &str) -> Result<(u64, Option<String>)> {
        let cmd = redis::cmd("XPENDING").arg(stream).arg(self.group()).clone();
        let summary = match self.query::<Value>(stream, "XPENDING", &cmd).await {
            Err(e) if is_missing(&e) => return Ok((0, None)),
            other => items(other?),
        };
        let count = summary.first().and_then(number).unwrap_or(0);
        Ok((count, summary.get(1).and_then(text)))
    }

    /// Entries after `last_delivered` when the server does not report the lag: Redis
    /// 7.0+ answers nil once entries were deleted in ways it cannot account for, and
    /// 6.2 has no lag at all.
    async fn count_after(
        &self,
        stream: &str,
        last_delivered: &str,
        length: u64,
    ) -> Result<Option<u64>> {
        if length > LAG_SCAN_LIMIT as u64 {
            return Ok(None);
        }
        let cmd = redis::cmd("XRANGE")
            .arg(stream)
            .arg(format!("({last_delivered}"))
            .arg("+")
            .arg("COUNT")
            .arg(LAG_SCAN_LIMIT + 1)
            .clone();
        let count = items(self.query::<Value>(stream, "XRANGE", &cmd).await?).len();
        Ok((count <= LAG_SCAN_LIMIT).then_some(count as u64))
    }

    /// Milliseconds since `id` was generated, by the clock of the server that made it.
    async fn age_ms(&self, stream: &str, id: &str) -> Result<Option<u64>> {
        let Some((millis, _)) = id.split_once('-') else {
            return Ok(None);
        };
        let (seconds, micros): (u64, u64) = self.query(stream, "TIME", &redis::cmd("TIME")).await?;
        let now_ms = seconds * 1000 + micros / 1000;
        Ok(millis
            .parse::<u64>()
            .ok()
            .map(|ms| now_ms.saturating_sub(ms)))
    }

    async fn consumers(&self, stream: &str) -> Result<Vec<ConsumerStats>> {
        let cmd = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(self.group())
            .clone();
        let reply = match self.query::<Value>(stream, "XINFO", &cmd).await {
            Err(e) if is_missing(&e) => return Ok(Vec::new()),
            other => other?,
        };
        Ok(items(reply)
            .into_iter()
            .map(pairs)
            .map(|fields| ConsumerStats {
                name: field(&fields, "name").and_then(text).unwrap_or_default(),
                pending: field(&fields, "pending").and_then(number).unwrap_or(0),
                idle_ms: field(&fields, "idle").and_then(number).unwrap_or(0),
            })
            .collect())
    }
}

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    fields.iter().find(|(key, _)| key == name).map(|(_, v)| v)
}
