//! Raising a live queue's shard count. The new shard streams and their group are
//! created first, at `$` on empty streams, so nothing written to them is skipped; then
//! the record changes, which producers and consumers read at start.

use super::Admin;
use crate::cluster::groups::ensure_groups;
use crate::cluster::shard_count::shards_key;
use crate::cluster::spread_registry::keep_listed;
use crate::error::{Error, Result};
use crate::options::validate_shards;
use crate::wire::naming::{Layout, QueueKeys};

const GROW_SCRIPT: &str = include_str!("grow.lua");

impl Admin {
    /// Raises the shard count to `shards` and returns the queue's new keys. Every stream
    /// of the old count stays a shard of the new one (in the spread layout, by growing
    /// to a whole multiple), so what it holds is still read.
    pub async fn grow(&self, shards: usize) -> Result<QueueKeys> {
        let old = &self.keys;
        check_growth(old, shards)?;
        let new = old.with_shards(shards);
        let old_streams = old.streams();
        let added: Vec<String> = new
            .streams()
            .into_iter()
            .filter(|stream| !old_streams.contains(stream))
            .collect();
        ensure_groups(&self.connection, &added, &new.group(), self.patience).await?;
        let key = shards_key(old.name());
        let expected = if self.recorded {
            old.record()
        } else {
            String::new()
        };
        let cmd = redis::cmd("EVAL")
            .arg(GROW_SCRIPT)
            .arg(1)
            .arg(&key)
            .arg(&expected)
            .arg(new.record())
            .clone();
        let found: String = self.query(&key, "EVAL", &cmd).await?;
        if found != expected {
            return Err(Error::invalid(
                "shards",
                format!("{key} changed meanwhile, to {found:?}; look again before growing"),
            ));
        }
        if new.layout() == Layout::Spread {
            let deadline = tokio::time::Instant::now() + self.patience;
            keep_listed(&self.connection, &new, deadline).await;
        }
        Ok(new)
    }
}

fn check_growth(old: &QueueKeys, shards: usize) -> Result<()> {
    validate_shards(shards)?;
    if shards <= old.shards() {
        return Err(Error::invalid(
            "shards",
            format!(
                "a queue only grows: {:?} has {} shards, not fewer than {shards}",
                old.name(),
                old.shards()
            ),
        ));
    }
    if old.layout() == Layout::Spread && !shards.is_multiple_of(old.shards()) {
        return Err(Error::invalid(
            "shards",
            format!(
                "the spread layout grows by whole multiples ({0} to {1}, {2}, ...), which \
                 keep every existing stream a shard; {shards} is not one",
                old.shards(),
                2 * old.shards(),
                3 * old.shards()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_grow_to_counts_that_keep_every_stream() {
        let go = QueueKeys::new("q", Layout::Go, 10);
        let spread = QueueKeys::new("q", Layout::Spread, 10);
        assert!(check_growth(&go, 13).is_ok());
        assert!(check_growth(&spread, 20).is_ok());
        assert!(check_growth(&spread, 30).is_ok());
        for (keys, shards) in [(&go, 10), (&go, 5), (&spread, 15), (&go, 128)] {
            assert!(check_growth(keys, shards).is_err(), "{shards}");
        }
        for shards in [20, 30, 120] {
            let grown = QueueKeys::new("q", Layout::Spread, shards).streams();
            assert!(spread.streams().iter().all(|s| grown.contains(s)));
        }
    }
}
