//! Running clients follow their queue's record: a queue grown under them (`ami grow`)
//! is picked up within `RECHECK_EVERY`, without a restart. Anything else the record
//! comes to say (fewer shards, another layout, a count that drops a stream, garbage) is
//! never followed: it is reported, once per change, for the operator to act on.

use crate::cluster::connection::Connection;
use crate::cluster::shard_count::shards_key;
use crate::error::Error;
use crate::wire::naming::QueueKeys;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often a running client looks at its queue's record.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// What a client does when its queue grows: takes on the streams of `keys`, whose
/// count is a growth of the one it runs with, asking the cluster on `connection`. A failure leaves it as it was, and the
/// next look tries again.
pub type Grow<T> =
    fn(Arc<T>, Connection, QueueKeys) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// Watches the record of `keys`' queue while `owner` lives: a growth goes to `grow`,
/// any other change to `report`.
pub async fn watch_record<T>(
    owner: Weak<T>,
    connection: Connection,
    keys: QueueKeys,
    grow: Grow<T>,
    report: fn(&T, Error),
) {
    let key = shards_key(keys.name());
    let mut current = keys;
    let mut reported = current.record();
    loop {
        tokio::time::sleep(RECHECK_EVERY).await;
        let Some(owner) = owner.upgrade() else {
            return;
        };
        let mut reading = connection.clone();
        let recorded: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut reading)
            .await
            .unwrap_or(None);
        let Some(value) = recorded.filter(|value| *value != current.record()) else {
            continue;
        };
        if value == reported {
            continue;
        }
        let Some(grown) = growth(&current, &value) else {
            report(&owner, not_followed(&current, &key, &value));
            reported = value;
            continue;
        };
        match grow(Arc::clone(&owner), connection.clone(), grown.clone()).await {
            Ok(()) => current = grown,
            Err(error) => report(&owner, error),
        }
    }
}

/// The keys `value` records when they keep every stream of `current` and add some.
fn growth(current: &QueueKeys, value: &str) -> Option<QueueKeys> {
    let grown = QueueKeys::parse_record(current.name(), value)?;
    if grown.layout() != current.layout()
        || grown.offset() != current.offset()
        || grown.shards() <= current.shards()
    {
        return None;
    }
    let streams = grown.streams();
    current
        .streams()
        .iter()
        .all(|stream| streams.contains(stream))
        .then_some(grown)
}

fn not_followed(keys: &QueueKeys, key: &str, value: &str) -> Error {
    let theirs = QueueKeys::parse_record(keys.name(), value)
        .map_or_else(|| format!("{value:?}"), |theirs| theirs.describe());
    Error::invalid(
        "shards",
        format!(
            "queue {:?} now records {theirs} in {key}, and this client runs with {}: only a \
             growth that keeps every stream is followed; restart it with the recorded count",
            keys.name(),
            keys.describe()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::naming::Layout;

    #[test]
    fn only_growths_that_keep_every_stream_are_followed() {
        let go = QueueKeys::new("q", Layout::Go, 10);
        let spread = QueueKeys::new("q", Layout::Spread, 10);
        assert_eq!(growth(&go, "13").map(|k| k.shards()), Some(13));
        assert_eq!(growth(&spread, "20 spread").map(|k| k.shards()), Some(20));
        for value in ["5", "10", "20 spread", "x"] {
            assert!(growth(&go, value).is_none(), "{value}");
        }
        for value in ["15 spread", "5 spread", "20"] {
            assert!(growth(&spread, value).is_none(), "{value}");
        }
    }
}
