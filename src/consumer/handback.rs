//! Handing back what a closing consumer read but never handed to the application, so
//! the rest of the group takes it on its next claim instead of after `claim_idle`.

use crate::cluster::connection::Connection;
use crate::consumer::delivery::Delivery;
use crate::consumer::triage::{parse_pending, Triage};
use crate::error::Error;
use crate::wire::stream_id::StreamId;
use redis::Value;
use std::collections::BTreeMap;

/// Idle time given to handed-back entries, so any claimer's next pass takes them: longer
/// than any sensible `claim_idle`, and later than the Unix epoch (the server treats an
/// idle time reaching back before it as zero).
pub const HANDED_BACK_IDLE_MS: u64 = 365 * 24 * 3600 * 1000;

/// Most of this consumer's pending entries looked up per shard above `queued`: more than
/// a reader may have on the wire (three reads of 16,384, see `read_count`).
const MAX_UNQUEUED: usize = 65_536;

/// Hands back one shard's `unread` entries (taken out of the prefetch) and this
/// consumer's pending entries above `queued` (read but lost on the way, or a backlog
/// not read yet). Returns how many were handed back.
pub async fn hand_back(
    connection: &mut Connection,
    triage: &Triage,
    unread: &[Delivery],
    queued: StreamId,
) -> Result<usize, Error> {
    // The read that put an entry in the prefetch counted a delivery the application
    // never saw: take it back, so the entry is not dead-lettered for it.
    let mut by_count: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for delivery in unread {
        by_count
            .entry(delivery.deliveries.saturating_sub(1))
            .or_default()
            .push(&delivery.id);
    }
    let mut handed = 0;
    for (count, ids) in by_count {
        handed += release(connection, triage, &ids, Some(count)).await?;
    }
    let reply: Value = redis::cmd("XPENDING")
        .arg(&triage.stream)
        .arg(&triage.group)
        .arg(format!("({queued}"))
        .arg("+")
        .arg(MAX_UNQUEUED)
        .arg(&triage.consumer)
        .query_async(connection)
        .await
        .map_err(|e| triage.error("XPENDING", &e))?;
    let rows = parse_pending(reply);
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    if !ids.is_empty() {
        handed += release(connection, triage, &ids, None).await?;
    }
    Ok(handed)
}

/// `XCLAIM … IDLE`: the entries stay pending here, but look long abandoned.
async fn release(
    connection: &mut Connection,
    triage: &Triage,
    ids: &[&str],
    deliveries: Option<u64>,
) -> Result<usize, Error> {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(&triage.stream)
        .arg(&triage.group)
        .arg(&triage.consumer)
        .arg(0)
        .arg(ids)
        .arg("IDLE")
        .arg(HANDED_BACK_IDLE_MS);
    if let Some(count) = deliveries {
        cmd.arg("RETRYCOUNT").arg(count);
    }
    let released: Vec<Value> = cmd
        .arg("JUSTID")
        .query_async(connection)
        .await
        .map_err(|e| triage.error("XCLAIM", &e))?;
    Ok(released.len())
}
