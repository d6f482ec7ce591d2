//! The cluster-wide list of spread queues, `qu_spread_offsets`: one line `NAME RECORD`
//! per queue, what its metadata key records. A new spread queue reads it with the slot
//! map, picks the offset that keeps the busiest master lightest, and adds itself with a
//! compare-and-set on the whole list, so of queues created at once each chooses knowing
//! the ones before it. Each queue's own record is what its clients follow; the list is
//! only for choosing, and clients of a queue put it back when it is missing.

use crate::cluster::connection::Connection;
use crate::cluster::nodes::parse_slots;
use crate::cluster::retry::until_deadline;
use crate::error::{Error, Result};
use crate::wire::hash_slot::SLOTS;
use crate::wire::naming::{Layout, QueueKeys};
use crate::wire::offset_choice::choose_offset;
use redis::Value;
use std::collections::{BTreeMap, HashMap};
use tokio::time::Instant;

/// The list's key; `qu` first, so the clients' `~qu*` ACL key pattern covers it.
pub const REGISTRY_KEY: &str = "qu_spread_offsets";

const SWAP_SCRIPT: &str = "if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

/// The keys of new spread queue `keys` (no record yet) at the offset chosen for it, or
/// at the offset the list already holds for it (another client is creating it too).
/// A user without `EVAL` gets the offset chosen from the list as read, unlisted.
pub async fn place(
    connection: &Connection,
    keys: &QueueKeys,
    deadline: Instant,
) -> Result<QueueKeys> {
    let owner = slot_owners(connection).await?;
    loop {
        let text = read(connection, deadline).await?;
        let mut entries = parse(&text);
        if let Some(listed) = entries.get(keys.name()) {
            if listed.layout() == Layout::Spread && listed.shards() == keys.shards() {
                return Ok(listed.clone());
            }
        }
        entries.remove(keys.name());
        let others: Vec<QueueKeys> = entries.values().cloned().collect();
        let offset = choose_offset(&owner, &others, keys.shards());
        let placed = keys.clone().at_offset(offset);
        entries.insert(keys.name().to_owned(), placed.clone());
        match swap(connection, &text, &render(&entries), deadline).await {
            Ok(true) => return Ok(placed),
            Ok(false) => {}
            // A user refused scripts still chooses knowing the listed queues; only
            // queues created at the same moment may then choose alike. Its consumers
            // (or an operator) list it later.
            Err(Error::Server { code, .. }) if code == "NOPERM" => return Ok(placed),
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Err(crowded());
        }
    }
}

/// Puts `keys` (as recorded) on the list if it is missing or listed otherwise: a lost
/// list fills up again as clients start. Best effort: the queue works without it.
pub async fn keep_listed(connection: &Connection, keys: &QueueKeys, deadline: Instant) {
    for _ in 0..5 {
        let Ok(text) = read(connection, deadline).await else {
            return;
        };
        let mut entries = parse(&text);
        if entries.get(keys.name()) == Some(keys) {
            return;
        }
        entries.insert(keys.name().to_owned(), keys.clone());
        match swap(connection, &text, &render(&entries), deadline).await {
            Ok(false) => {}
            Ok(true) | Err(_) => return,
        }
    }
}

/// The spread queues listed, by name; lines that are not `NAME RECORD` are skipped.
#[must_use]
pub fn parse(text: &str) -> BTreeMap<String, QueueKeys> {
    text.lines()
        .filter_map(|line| {
            let (name, record) = line.split_once(' ')?;
            let keys = QueueKeys::parse_record(name, record)?;
            (keys.layout() == Layout::Spread).then(|| (name.to_owned(), keys))
        })
        .collect()
}

#[must_use]
pub fn render(entries: &BTreeMap<String, QueueKeys>) -> String {
    let mut text = String::new();
    for (name, keys) in entries {
        text.push_str(name);
        text.push(' ');
        text.push_str(&keys.record());
        text.push('\n');
    }
    text
}

async fn read(connection: &Connection, deadline: Instant) -> Result<String> {
    let text: Option<String> = until_deadline(deadline, || {
        let mut connection = connection.clone();
        async move {
            redis::cmd("GET")
                .arg(REGISTRY_KEY)
                .query_async(&mut connection)
                .await
        }
    })
    .await
    .map_err(|e| Error::server("GET", REGISTRY_KEY, &e))?;
    Ok(text.unwrap_or_default())
}

/// Replaces the list by `new` if it still is `old`. A retry after a lost reply finds
/// `new` in place and answers false; the caller then reads the list again and finds
/// its entry.
async fn swap(connection: &Connection, old: &str, new: &str, deadline: Instant) -> Result<bool> {
    let cmd = redis::cmd("EVAL")
        .arg(SWAP_SCRIPT)
        .arg(1)
        .arg(REGISTRY_KEY)
        .arg(old)
        .arg(new)
        .clone();
    let swapped: i64 = until_deadline(deadline, || {
        let mut connection = connection.clone();
        let cmd = cmd.clone();
        async move { cmd.query_async(&mut connection).await }
    })
    .await
    .map_err(|e| Error::server("EVAL", REGISTRY_KEY, &e))?;
    Ok(swapped == 1)
}

/// The master (as an index) serving each slot; a standalone server serves them all.
async fn slot_owners(connection: &Connection) -> Result<Vec<Option<usize>>> {
    let slots = usize::from(SLOTS);
    if matches!(connection, Connection::Standalone(_)) {
        return Ok(vec![Some(0); slots]);
    }
    let mut reading = connection.clone();
    let reply: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut reading)
        .await
        .map_err(|e| Error::server("CLUSTER", "SLOTS", &e))?;
    let mut owner = vec![None; slots];
    let mut index: HashMap<String, usize> = HashMap::new();
    for (first, last, node) in parse_slots(&reply) {
        let next = index.len();
        let master = *index.entry(node).or_insert(next);
        let last = usize::from(last).min(slots - 1);
        if let Some(range) = owner.get_mut(usize::from(first)..=last) {
            range.fill(Some(master));
        }
    }
    Ok(owner)
}

fn crowded() -> Error {
    Error::Server {
        command: "EVAL",
        key: REGISTRY_KEY.to_owned(),
        code: String::new(),
        detail: "the list of spread queues kept changing until the deadline".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_reads_back_what_it_wrote() {
        let mut entries = BTreeMap::new();
        for keys in [
            QueueKeys::new("a", Layout::Spread, 10).at_offset(7),
            QueueKeys::new("b.v2", Layout::Spread, 20),
        ] {
            entries.insert(keys.name().to_owned(), keys);
        }
        let text = render(&entries);
        assert_eq!(text, "a 10 spread 7\nb.v2 20 spread\n");
        assert_eq!(parse(&text), entries);
        let noisy = format!("{text}junk\nc 10\nd 10 spread 99999\n\n");
        assert_eq!(parse(&noisy), entries);
    }
}
