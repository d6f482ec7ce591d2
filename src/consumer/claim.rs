//! Recovery of messages left by dead consumers: entries pending longer than `claim_idle`
//! are claimed (XCLAIM) and delivered again.
//!
//! Candidates come from `XPENDING … IDLE`, which names each entry's consumer and delivery
//! count: the count handed on is exact, and this consumer's own entries are claimed only
//! once the application has held them for `claim_idle` without an ack, as another
//! consumer's would be. The server's idle time of an entry that waited in the prefetch
//! says nothing about how long the application has had it.

use crate::cluster::connection::Connection;
use crate::consumer::delivery::{Delivery, ReaderEvents};
use crate::consumer::progress::{Progress, Whereabouts};
use crate::consumer::triage::{parse_pending, PendingRow, Triage};
use crate::error::Error;
use crate::wire::reply::{parse_claimed, Entry};
use crate::wire::stream_id::StreamId;
use redis::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Most XPENDING pages per shard in one pass, so one huge backlog cannot starve the rest.
const MAX_PAGES_PER_PASS: usize = 16;

/// How far one pass over a shard's pending entries got.
#[derive(Default)]
struct Pass {
    scanned_to: StreamId,
    finished: bool,
}

pub struct Claimer {
    /// The triage of each shard, `None` past the last one (the queue can grow).
    pub shards: Box<dyn Fn(usize) -> Option<Triage> + Send + Sync>,
    pub idle: Duration,
    pub interval: Duration,
    pub count: usize,
    pub connection: Connection,
    pub progress: Arc<Progress>,
    pub deliveries: mpsc::Sender<Vec<Delivery>>,
    pub stop: watch::Receiver<bool>,
}

impl Claimer {
    /// Claims until stopped. A pass that has begun on a shard finishes, so claimed
    /// entries always reach the prefetch, where `close` finds them.
    pub async fn run(mut self, events: &dyn ReaderEvents) {
        let mut stop = self.stop.clone();
        let progress = Arc::clone(&self.progress);
        let mut next_pass = tokio::time::Instant::now() + self.interval;
        loop {
            // A nack wakes the claimer for the shards it concerns; the full pass keeps
            // its own rhythm.
            let full = tokio::select! {
                () = tokio::time::sleep_until(next_pass) => true,
                () = progress.nudge.notified() => false,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            if full {
                next_pass = tokio::time::Instant::now() + self.interval;
            }
            for index in 0.. {
                if (self.shards)(index).is_none() {
                    break;
                }
                if *stop.borrow() {
                    return;
                }
                if !full && !progress.has_nacked(index) {
                    continue;
                }
                if let Err(error) = self.claim_shard(index, events).await {
                    events.error(error);
                }
            }
        }
    }

    /// Claims and hands out the idle entries of one shard.
    async fn claim_shard(&mut self, index: usize, events: &dyn ReaderEvents) -> Result<(), Error> {
        let nacked = self.progress.take_nacked(index);
        let mut pass = Pass::default();
        let result = self.claim_pages(index, &nacked, &mut pass, events).await;
        if !pass.finished {
            // Nacked entries this pass did not reach (a failure, or the page limit) are
            // left for the next one.
            let unreached = nacked.into_iter().filter(|id| *id > pass.scanned_to);
            self.progress.nacked_before(index, unreached);
        }
        result
    }

    async fn claim_pages(
        &mut self,
        index: usize,
        nacked: &HashSet<StreamId>,
        pass: &mut Pass,
        events: &dyn ReaderEvents,
    ) -> Result<(), Error> {
        let triage = (self.shards)(index).expect("shards are never removed");
        let idle_ms = self.idle.as_millis() as u64;
        let mut start = "-".to_owned();
        for _ in 0..MAX_PAGES_PER_PASS {
            let reply: Value = redis::cmd("XPENDING")
                .arg(&triage.stream)
                .arg(&triage.group)
                .arg("IDLE")
                .arg(idle_ms)
                .arg(&start)
                .arg("+")
                .arg(self.count)
                .query_async(&mut self.connection)
                .await
                .map_err(|e| triage.error("XPENDING", &e))?;
            let rows = parse_pending(reply);
            let Some(last) = rows.last() else {
                pass.finished = true;
                return Ok(());
            };
            start = format!("({}", last.id);
            let last_id = StreamId::parse(&last.id);
            let full_page = rows.len() >= self.count;
            let candidates: Vec<PendingRow> = rows
                .into_iter()
                .filter(|row| {
                    row.consumer != triage.consumer
                        || StreamId::parse(&row.id).is_some_and(|id| nacked.contains(&id))
                        || self.abandoned_here(&triage, row)
                })
                .collect();
            if !candidates.is_empty() {
                self.claim(&triage, idle_ms, candidates, events).await?;
            }
            if let Some(id) = last_id {
                pass.scanned_to = id;
            }
            if !full_page {
                pass.finished = true;
                break;
            }
        }
        Ok(())
    }

    /// One of this consumer's own entries that the application was handed `idle` ago or
    /// longer and has not acked: not one still in the prefetch or just handed out.
    fn abandoned_here(&self, triage: &Triage, row: &PendingRow) -> bool {
        let Some(id) = StreamId::parse(&row.id) else {
            return false;
        };
        match self.progress.whereabouts(triage.shard, id) {
            Whereabouts::Unhanded => false,
            Whereabouts::HandedAt(at) => at.elapsed() >= self.idle,
            Whereabouts::HandedLongAgo => true,
        }
    }

    async fn claim(
        &mut self,
        triage: &Triage,
        idle_ms: u64,
        candidates: Vec<PendingRow>,
        events: &dyn ReaderEvents,
    ) -> Result<(), Error> {
        let ids: Vec<&str> = candidates.iter().map(|row| row.id.as_str()).collect();
        // XCLAIM checks the idle time again, so an entry another claimer or its owner
        // touched in between is left where it is.
        let reply: Value = redis::cmd("XCLAIM")
            .arg(&triage.stream)
            .arg(&triage.group)
            .arg(&triage.consumer)
            .arg(idle_ms)
            .arg(&ids)
            .query_async(&mut self.connection)
            .await
            .map_err(|e| triage.error("XCLAIM", &e))?;
        let answered_nil = matches!(&reply, Value::Array(items) if items.contains(&Value::Nil));
        let mut entries = parse_claimed(reply).map_err(|detail| Error::Server {
            command: "XCLAIM",
            key: triage.stream.clone(),
            code: String::new(),
            detail,
        })?;
        events.claimed(entries.len());
        if answered_nil {
            // Redis 6.2 moves an entry deleted while pending to the claimer and answers
            // nil for it, without its id (7.0 drops it from the group): found here, it is
            // acked off as one read without a body would be, instead of staying pending.
            let returned: HashSet<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
            let unanswered: Vec<String> = ids
                .iter()
                .filter(|id| !returned.contains(**id))
                .map(|id| (*id).to_owned())
                .collect();
            entries.extend(self.deleted(triage, unanswered).await?);
        }
        let counts: HashMap<&str, u64> = candidates
            .iter()
            .map(|row| (row.id.as_str(), row.deliveries))
            .collect();
        // XCLAIM counted one more delivery.
        let counted = entries.into_iter().map(|entry| {
            let deliveries = counts.get(entry.id.as_str()).map_or(1, |count| count + 1);
            (entry, deliveries)
        });
        let batch = triage.sort(&mut self.connection, counted, events).await;
        if !batch.is_empty() {
            // Fails only when the consumer is gone, and then nothing reads the batch.
            let _ = self.deliveries.send(batch).await;
        }
        Ok(())
    }

    /// Those of `ids` that are no longer in the stream, as entries without a body.
    async fn deleted(&mut self, triage: &Triage, ids: Vec<String>) -> Result<Vec<Entry>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("XRANGE").arg(&triage.stream).arg(id).arg(id);
        }
        let found = self
            .connection
            .pipeline_for(&triage.stream, pipe, ids.len())
            .await
            .map_err(|e| triage.error("XRANGE", &e))?;
        Ok(ids
            .into_iter()
            .zip(found)
            .filter(|(_, found)| matches!(found, Value::Array(entries) if entries.is_empty()))
            .map(|(id, _)| Entry::without_body(id))
            .collect())
    }
}
