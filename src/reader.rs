//! One task per shard: first the consumer's own pending entries, then new ones.

use crate::error::Error;
use crate::groups::ensure_group;
use crate::reply::{parse_read_reply, Entry};
use crate::retry::{classify, Backoff, Disposition};
use redis::cluster_async::ClusterConnection;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// A message handed to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub shard: usize,
    pub id: String,
    pub body: Vec<u8>,
}

pub struct ShardReader {
    pub shard: usize,
    pub stream: String,
    pub group: String,
    pub consumer: String,
    pub count: usize,
    pub block: Option<Duration>,
    pub idle_poll: Duration,
    pub connection: ClusterConnection,
    pub deliveries: mpsc::Sender<Vec<Delivery>>,
    pub stop: watch::Receiver<bool>,
}

/// Where the next read starts.
enum Cursor {
    /// Re-reading entries delivered to this consumer before (from `0`, then after the last id).
    Backlog(String),
    /// New entries (`>`).
    New,
}

/// What the reader reports back: failures for `on_error`, entries with no body to ack.
pub trait ReaderEvents: Send + Sync {
    fn error(&self, error: Error);
    fn invalid_entry(&self, shard: usize, id: String);
}

impl ShardReader {
    pub async fn run(mut self, events: &dyn ReaderEvents) {
        let mut cursor = Cursor::Backlog("0".to_owned());
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        let mut stop = self.stop.clone();
        loop {
            if *stop.borrow() {
                return;
            }
            let read = tokio::select! {
                read = self.read(&cursor) => read,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            let entries = match read {
                Ok(entries) => entries,
                Err(error) => {
                    self.recover(error, events).await;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
            backoff.reset();
            if let Cursor::Backlog(after) = &mut cursor {
                match entries.last() {
                    Some(last) => after.clone_from(&last.id),
                    None => cursor = Cursor::New,
                }
            }
            let idle = entries.is_empty();
            let batch = self.keep_valid(entries, events);
            if !batch.is_empty() {
                tokio::select! {
                    sent = self.deliveries.send(batch) => if sent.is_err() { return },
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
            if idle && self.block.is_none() {
                tokio::time::sleep(self.idle_poll).await;
            }
        }
    }

    async fn read(&mut self, cursor: &Cursor) -> redis::RedisResult<Vec<Entry>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.count);
        let start = match cursor {
            Cursor::Backlog(after) => after.as_str(),
            Cursor::New => {
                if let Some(block) = self.block {
                    cmd.arg("BLOCK").arg(block.as_millis() as u64);
                }
                ">"
            }
        };
        cmd.arg("STREAMS").arg(&self.stream).arg(start);
        let reply: redis::Value = cmd.query_async(&mut self.connection).await?;
        parse_read_reply(reply).map_err(|detail| {
            redis::RedisError::from((redis::ErrorKind::Parse, "bad XREADGROUP reply", detail))
        })
    }

    /// Entries without a body are handed back for acking instead of being delivered.
    fn keep_valid(&self, entries: Vec<Entry>, events: &dyn ReaderEvents) -> Vec<Delivery> {
        let mut batch = Vec::with_capacity(entries.len());
        for Entry { id, body } in entries {
            match body {
                Some(body) => batch.push(Delivery {
                    shard: self.shard,
                    id,
                    body,
                }),
                None => events.invalid_entry(self.shard, id),
            }
        }
        batch
    }

    async fn recover(&mut self, error: redis::RedisError, events: &dyn ReaderEvents) {
        let disposition = classify(&error);
        events.error(Error::Server {
            command: "XREADGROUP",
            key: self.stream.clone(),
            code: error.code().unwrap_or_default().to_owned(),
            detail: error
                .detail()
                .map_or_else(|| error.to_string(), str::to_owned),
        });
        if disposition == Disposition::Recreate {
            if let Err(e) = ensure_group(&mut self.connection, &self.stream, &self.group).await {
                events.error(Error::Server {
                    command: "XGROUP CREATE",
                    key: self.stream.clone(),
                    code: e.code().unwrap_or_default().to_owned(),
                    detail: e.to_string(),
                });
            }
        }
    }
}
