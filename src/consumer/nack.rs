//! Negative acknowledgement: a message the application gives up on is handed back to
//! the group for redelivery, keeping its id and the delivery count the server keeps.
//!
//! The entry stays pending under this consumer but looks long abandoned (`XCLAIM …
//! IDLE`), so the next claim pass of any consumer of the group takes it and counts one
//! more delivery; this consumer's claimer is woken at once. After `max_deliveries` the
//! claimer's triage dead-letters it, as for any other redelivery.

use crate::cluster::connection::Connection;
use crate::cluster::retry::classified;
use crate::cluster::retry::script_refused;
use crate::cluster::shard_streams::ShardTable;
use crate::consumer::handback::HANDED_BACK_IDLE_MS;
use crate::consumer::triage::parse_pending;
use crate::consumer::{Consumer, Shared};
use crate::error::{Error, Result};
use crate::runtime::runtime;
use redis::Value;
use std::sync::Arc;
use std::time::Duration;

const NACK_SCRIPT: &str = include_str!("nack.lua");

/// What a nack sets the idle time to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Zero: held a while longer (a nack with a delay, until the delay ends).
    Held,
    /// Long abandoned: claimable at once.
    Released,
}

impl Idle {
    fn millis(self) -> u64 {
        match self {
            Idle::Held => 0,
            Idle::Released => HANDED_BACK_IDLE_MS,
        }
    }
}

/// One shard's entries to nack, pending under `consumer`.
pub struct Pending<'a> {
    pub stream: &'a str,
    pub group: &'a str,
    pub consumer: &'a str,
}

impl Pending<'_> {
    /// Sets the idle time of those of `ids` still pending under this consumer and returns
    /// them; ids acked already or claimed by another consumer are left alone.
    pub async fn set_idle(
        &self,
        connection: &mut Connection,
        ids: &[String],
        idle: Idle,
    ) -> std::result::Result<Vec<String>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut script = redis::cmd("EVAL");
        script
            .arg(NACK_SCRIPT)
            .arg(1)
            .arg(self.stream)
            .arg(self.group)
            .arg(self.consumer)
            .arg(idle.millis())
            .arg(ids);
        match script.query_async::<Vec<String>>(connection).await {
            Ok(ids) => Ok(ids),
            Err(e) if script_refused(e.code().unwrap_or_default(), &e.to_string()) => {
                self.set_idle_in_steps(connection, ids, idle).await
            }
            Err(e) => Err(Error::server("EVAL", self.stream, &e)),
        }
    }

    /// For users not allowed to run scripts: the same check and XCLAIM as two commands,
    /// so a claim by another consumer between them is taken back (that consumer still
    /// holds the message in hand; it is delivered twice).
    async fn set_idle_in_steps(
        &self,
        connection: &mut Connection,
        ids: &[String],
        idle: Idle,
    ) -> std::result::Result<Vec<String>, Error> {
        let mut set = Vec::new();
        for id in ids {
            let reply: Value = redis::cmd("XPENDING")
                .arg(self.stream)
                .arg(self.group)
                .arg(id)
                .arg(id)
                .arg(1)
                .arg(self.consumer)
                .query_async(connection)
                .await
                .map_err(|e| Error::server("XPENDING", self.stream, &e))?;
            let Some(row) = parse_pending(reply).pop() else {
                continue;
            };
            let claimed: Vec<Value> = redis::cmd("XCLAIM")
                .arg(self.stream)
                .arg(self.group)
                .arg(self.consumer)
                .arg(0)
                .arg(id)
                .arg("IDLE")
                .arg(idle.millis())
                .arg("RETRYCOUNT")
                .arg(row.deliveries)
                .arg("JUSTID")
                .query_async(connection)
                .await
                .map_err(|e| Error::server("XCLAIM", self.stream, &e))?;
            if !claimed.is_empty() {
                set.push(id.clone());
            }
        }
        Ok(set)
    }
}

impl Consumer {
    /// Hands `(shard, id)` entries back for redelivery: at once, or after `delay`
    /// (until then they are held here, their idle time reset). Returns how many were
    /// still pending under this consumer; the others were acked or claimed already.
    pub fn nack(&self, ids: &[(usize, String)], delay: Duration) -> Result<usize> {
        if self.is_closed() {
            return Err(Error::Closed { what: "consumer" });
        }
        let Some(claim_idle) = self.shared.options.claim_idle else {
            return Err(Error::invalid(
                "claim_idle",
                "nack needs claims: with claim_idle=None no consumer of this process would \
                 redeliver a nacked message",
            ));
        };
        if delay > claim_idle {
            return Err(Error::invalid(
                "delay",
                "must not exceed claim_idle: other consumers claim a held message after it",
            ));
        }
        let table = self.shared.streams.current();
        let mut per_shard: Vec<Vec<String>> = vec![Vec::new(); table.len()];
        for (shard, id) in ids {
            per_shard[*shard].push(id.clone());
        }
        let idle = if delay.is_zero() {
            Idle::Released
        } else {
            Idle::Held
        };
        let mut connection = self.writer.clone();
        let shared = &self.shared;
        let pending = runtime().block_on(async {
            let mut pending = Vec::new();
            for (shard, ids) in per_shard.iter().enumerate() {
                let set = shared
                    .pending(&table, shard)
                    .set_idle(&mut connection, ids, idle)
                    .await?;
                pending.push(set);
            }
            Ok::<_, Error>(pending)
        })?;
        let count = pending.iter().map(Vec::len).sum();
        if delay.is_zero() {
            for (shard, ids) in pending.iter().enumerate() {
                shared
                    .progress
                    .nacked(shard, ids.iter().map(String::as_str));
            }
        } else {
            let shared = Arc::clone(&self.shared);
            runtime().spawn(async move {
                tokio::time::sleep(delay).await;
                release_later(&shared, &mut connection, pending).await;
            });
        }
        shared.counters.nacked.add(count as u64);
        Ok(count)
    }
}

/// The end of a nack's delay: its entries become claimable, whether or not the consumer
/// was closed meanwhile (a process that ends first leaves them pending, to be claimed
/// after `claim_idle`).
async fn release_later(shared: &Shared, connection: &mut Connection, pending: Vec<Vec<String>>) {
    let table = shared.streams.current();
    for (shard, ids) in pending.iter().enumerate() {
        match shared
            .pending(&table, shard)
            .set_idle(connection, ids, Idle::Released)
            .await
        {
            Ok(released) => shared
                .progress
                .nacked(shard, released.iter().map(String::as_str)),
            // Left unreleased, the entries are claimed after claim_idle.
            Err(error) => shared
                .notices
                .report(classified(error, |key| shared.nodes.node_of(key))),
        }
    }
}

impl Shared {
    fn pending<'a>(&'a self, table: &'a ShardTable, shard: usize) -> Pending<'a> {
        Pending {
            stream: table.stream(shard),
            group: &self.group,
            consumer: &self.options.consumer,
        }
    }
}
