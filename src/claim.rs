//! Recovery of messages left by dead consumers: entries pending longer than
//! `claim_idle` with any consumer of the group are claimed (XAUTOCLAIM) and delivered.

use crate::connection::Connection;
use crate::error::Error;
use crate::reader::{Delivery, ReaderEvents};
use crate::reply::parse_claim_reply;
use crate::triage::Triage;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Most XAUTOCLAIM calls per shard in one pass, so one huge backlog cannot starve the rest.
const MAX_CALLS_PER_PASS: usize = 16;

pub struct Claimer {
    pub shards: Vec<Triage>,
    pub idle: Duration,
    pub interval: Duration,
    pub count: usize,
    pub connection: Connection,
    pub deliveries: mpsc::Sender<Vec<Delivery>>,
    pub stop: watch::Receiver<bool>,
}

impl Claimer {
    pub async fn run(mut self, events: &dyn ReaderEvents) {
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            for index in 0..self.shards.len() {
                let claimed = tokio::select! {
                    claimed = self.claim_shard(index, events) => claimed,
                    _ = stop.wait_for(|stopped| *stopped) => return,
                };
                if claimed.is_err() {
                    // Without XAUTOCLAIM (Redis < 6.2) there is nothing to retry.
                    return;
                }
            }
        }
    }

    /// Claims and hands out the idle entries of one shard; `Err` when the server
    /// cannot claim at all.
    async fn claim_shard(&mut self, index: usize, events: &dyn ReaderEvents) -> Result<(), ()> {
        let triage = self.shards[index].clone();
        let mut cursor = "0-0".to_owned();
        for _ in 0..MAX_CALLS_PER_PASS {
            let reply = redis::cmd("XAUTOCLAIM")
                .arg(&triage.stream)
                .arg(&triage.group)
                .arg(&triage.consumer)
                .arg(self.idle.as_millis() as u64)
                .arg(&cursor)
                .arg("COUNT")
                .arg(self.count)
                .query_async(&mut self.connection)
                .await;
            let claimed = match reply.map(parse_claim_reply) {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(detail)) => return report(events, &triage, "", &detail, Ok(())),
                Err(e) => {
                    let unsupported =
                        e.code() == Some("ERR") && e.to_string().contains("unknown command");
                    let outcome = if unsupported { Err(()) } else { Ok(()) };
                    let code = e.code().unwrap_or_default().to_owned();
                    return report(events, &triage, &code, &e.to_string(), outcome);
                }
            };
            for id in claimed.deleted {
                events.vanished(triage.shard, id);
            }
            let claimed_count = claimed.entries.len();
            let batch = triage
                .redelivered(&mut self.connection, claimed.entries, events)
                .await;
            events.claimed(claimed_count);
            if !batch.is_empty() && self.deliveries.send(batch).await.is_err() {
                return Ok(());
            }
            if claimed.cursor == "0-0" {
                break;
            }
            cursor = claimed.cursor;
        }
        Ok(())
    }
}

fn report(
    events: &dyn ReaderEvents,
    triage: &Triage,
    code: &str,
    detail: &str,
    outcome: Result<(), ()>,
) -> Result<(), ()> {
    events.error(Error::Server {
        command: "XAUTOCLAIM",
        key: triage.stream.clone(),
        code: code.to_owned(),
        detail: detail.to_owned(),
    });
    outcome
}
