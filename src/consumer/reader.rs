//! One task per shard: first the consumer's own pending entries, then new ones.

use crate::cluster::connection::Connection;
use crate::cluster::groups::ensure_group;
use crate::cluster::nodes::Nodes;
use crate::cluster::retry::{classify, Backoff, Disposition};
use crate::consumer::delivery::{Delivery, ReaderEvents};
use crate::consumer::direct_read::{Direct, DirectReads};
use crate::consumer::progress::{Progress, Whereabouts};
use crate::consumer::read_count::{ReadCount, ReadOutcome};
use crate::consumer::triage::Triage;
use crate::error::Error;
use crate::wire::reply::{parse_read_reply, Entry};
use crate::wire::stream_id::StreamId;
use redis::aio::ConnectionLike;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub struct ShardReader {
    pub triage: Triage,
    /// Reads on a connection of their own when the seeds allow it (see `direct_read`).
    pub direct: Option<DirectReads>,
    /// Entries per read of new ones, adapted to the distance (see `read_count`).
    pub count: ReadCount,
    pub block: Option<Duration>,
    pub progress: Arc<Progress>,
    pub nodes: Arc<Nodes>,
    /// Reads of new entries so far: each one's entries form a run (see `Place`).
    pub runs: u64,
    pub idle_poll: Duration,
    pub connection: Connection,
    pub deliveries: mpsc::Sender<Vec<Delivery>>,
    pub stop: watch::Receiver<bool>,
}

/// Where the next read starts.
enum Cursor {
    /// Re-reading entries delivered to this consumer before: at start (from `0`), and
    /// after a failed read (from the last id queued, as its reply may have been lost).
    /// Read in growing steps, each once the previous one was handed to the application:
    /// every re-read counts as a delivery, and a consumer that keeps crashing on its
    /// first message must not push the rest of its backlog to the dead-letter stream.
    Backlog { after: String, step: usize },
    /// New entries (`>`).
    New,
}

impl Cursor {
    fn backlog(after: String) -> Self {
        Cursor::Backlog { after, step: 1 }
    }
}

/// A read on the wire: how many entries it asked for, and the shard's last queued entry
/// when it was sent (the application had to take that one for the read to count as
/// awaited, see `read_count`).
struct Sent {
    asked: usize,
    queued: StreamId,
}

impl ShardReader {
    pub async fn run(mut self, events: &dyn ReaderEvents) {
        let shard = self.triage.shard;
        let mut cursor = Cursor::backlog("0".to_owned());
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        let mut stop = self.stop.clone();
        // Reads of new entries sent ahead on the direct link, oldest first.
        let mut ahead: VecDeque<Sent> = VecDeque::new();
        if let Some(direct) = self.direct.as_mut() {
            direct.aim_at(&self.nodes.node_of(&self.triage.stream));
        }
        loop {
            if *stop.borrow() {
                return;
            }
            let (sent, read) = tokio::select! {
                read = self.next_reply(&cursor, &mut ahead) => read,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            let entries = match read {
                Ok(entries) => entries,
                Err(error) => {
                    // The replies of the reads behind it are gone with the link: like a
                    // lost reply, whatever they delivered is re-read from the backlog.
                    ahead.clear();
                    self.recover(error, events).await;
                    self.count.reset();
                    cursor = Cursor::backlog(self.progress.queued_up_to(shard).to_string());
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
            backoff.reset();
            let got = entries.len();
            let backlog = matches!(cursor, Cursor::Backlog { .. });
            if !backlog {
                self.count.adapt(&ReadOutcome {
                    asked: sent.asked,
                    got,
                    bytes: entries.iter().map(held_bytes).sum(),
                    drained: self.progress.whereabouts(shard, sent.queued) != Whereabouts::Unhanded,
                });
                self.read_ahead(&mut ahead).await;
            }
            let batch = if let Cursor::Backlog { after, step } = &mut cursor {
                match entries.last() {
                    Some(last) => {
                        after.clone_from(&last.id);
                        *step = (*step * 4).min(self.count.most());
                    }
                    None => cursor = Cursor::New,
                }
                self.triage
                    .redelivered(&mut self.connection, entries, events)
                    .await
            } else {
                self.runs += 1;
                self.triage.fresh(entries, self.runs, events)
            };
            if let Some(last) = batch.last().map(|delivery| delivery.id.clone()) {
                tokio::select! {
                    sent = self.deliveries.send(batch) => if sent.is_err() { return },
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
                self.progress.queued(shard, &last);
                if backlog {
                    tokio::select! {
                        () = self.handled_past(&last) => {}
                        _ = stop.wait_for(|stopped| *stopped) => return,
                    }
                }
            }
            if got == 0 && self.block.is_none() {
                tokio::time::sleep(self.idle_poll).await;
            }
        }
    }

    /// The reply of the oldest read sent ahead, or else of a read sent now.
    async fn next_reply(
        &mut self,
        cursor: &Cursor,
        ahead: &mut VecDeque<Sent>,
    ) -> (Sent, redis::RedisResult<Vec<Entry>>) {
        if let Some(sent) = ahead.pop_front() {
            let read = match self.direct.as_mut() {
                Some(direct) => direct.receive_ahead().await,
                None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected).into()),
            };
            return (sent, read);
        }
        let sent = Sent {
            asked: self.asked(cursor),
            queued: self.progress.queued_up_to(self.triage.shard),
        };
        let read = self.read(cursor, sent.asked).await;
        (sent, read)
    }

    /// Sends reads of new entries ahead until as many are on the wire as `count` wants.
    async fn read_ahead(&mut self, ahead: &mut VecDeque<Sent>) {
        while ahead.len() < self.count.ahead() {
            let asked = self.count.get();
            let command = self.command(&Cursor::New, asked).get_packed_command();
            let Some(direct) = self.direct.as_mut() else {
                return;
            };
            if !direct.send_ahead(&command).await {
                return;
            }
            let queued = self.progress.queued_up_to(self.triage.shard);
            ahead.push_back(Sent { asked, queued });
        }
    }

    /// The COUNT of the next read: growing steps of the backlog, or the adapted count.
    fn asked(&self, cursor: &Cursor) -> usize {
        match cursor {
            Cursor::Backlog { step, .. } => *step,
            Cursor::New => self.count.get(),
        }
    }

    /// Waits until the application was handed this shard's entries up to `id` and came
    /// back for more.
    async fn handled_past(&self, id: &str) {
        let Some(id) = StreamId::parse(id) else {
            return;
        };
        let shard = self.triage.shard;
        loop {
            let handed = self.progress.handed_out.notified();
            tokio::pin!(handed);
            handed.as_mut().enable();
            if self.progress.handled_past(shard, id) {
                return;
            }
            handed.await;
        }
    }

    /// XREADGROUP of `count` entries from where `cursor` says.
    fn command(&self, cursor: &Cursor, count: usize) -> redis::Cmd {
        let mut cmd = redis::cmd("XREADGROUP");
        let Triage {
            stream,
            group,
            consumer,
            ..
        } = &self.triage;
        cmd.arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        let start = match cursor {
            Cursor::Backlog { after, .. } => after.as_str(),
            Cursor::New => {
                if let Some(block) = self.block {
                    cmd.arg("BLOCK").arg(block.as_millis() as u64);
                }
                ">"
            }
        };
        cmd.arg("STREAMS").arg(stream).arg(start);
        cmd
    }

    async fn read(&mut self, cursor: &Cursor, count: usize) -> redis::RedisResult<Vec<Entry>> {
        let cmd = self.command(cursor, count);
        if let Some(direct) = self.direct.as_mut() {
            match direct.read(&cmd.get_packed_command()).await {
                Direct::Entries(entries) => return Ok(entries),
                Direct::Refused(error) | Direct::Lost(error) => return Err(error),
                Direct::Unavailable => {}
            }
        }
        // Not `query_async`: it walks every entry of the reply looking for nested errors,
        // which an XREADGROUP reply cannot hold; only the whole reply can be one.
        let reply = self.connection.req_packed_command(&cmd).await?;
        if let redis::Value::ServerError(error) = reply {
            return Err(error.into());
        }
        parse_read_reply(reply).map_err(|detail| {
            redis::RedisError::from((redis::ErrorKind::Parse, "bad XREADGROUP reply", detail))
        })
    }

    async fn recover(&mut self, error: redis::RedisError, events: &dyn ReaderEvents) {
        let disposition = classify(&error);
        let failed = Error::server("XREADGROUP", self.triage.stream.as_str(), &error);
        events.error(match disposition {
            Disposition::Retry => failed.retrying(self.nodes.node_of(&self.triage.stream)),
            // A vanished group is an alarm, and a refusal will not pass by itself.
            Disposition::Recreate | Disposition::Fatal => failed,
        });
        if disposition == Disposition::Recreate {
            if let Err(e) = ensure_group(
                &mut self.connection,
                &self.triage.stream,
                &self.triage.group,
            )
            .await
            {
                events.error(Error::server(
                    "XGROUP CREATE",
                    self.triage.stream.as_str(),
                    &e,
                ));
            }
        }
    }
}

/// What one entry will hold in the prefetch.
fn held_bytes(entry: &Entry) -> usize {
    std::mem::size_of::<Delivery>() + entry.id.len() + entry.body.as_ref().map_or(0, Vec::len)
}
