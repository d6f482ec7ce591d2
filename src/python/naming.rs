//! The wire's naming rules, exported so Python tooling never spells a key itself.

use super::args;
use crate::error::Error;
use crate::options::validate_shards;
use crate::producer::placement::key_shard;
use crate::wire::naming::{self, Layout, QueueKeys};
use pyo3::prelude::*;

/// The stream of shard `shard` of queue `name`: ``qu{<shard>}_<name>`` in the Go
/// layout, ``qu{<tag>}_<name>`` in the spread one (which needs `shards`).
#[pyfunction]
#[pyo3(signature = (name, shard, shards=None, layout="go"))]
pub fn stream_name(
    name: &str,
    shard: usize,
    shards: Option<usize>,
    layout: &str,
) -> PyResult<String> {
    Ok(keys(name, shard, shards, layout)?.stream(shard))
}

/// The dead-letter stream of shard `shard`: ``qu{<tag>}:dlq:<name>``, the tag of its
/// shard stream.
#[pyfunction]
#[pyo3(signature = (name, shard, shards=None, layout="go"))]
pub fn dead_letter_stream_name(
    name: &str,
    shard: usize,
    shards: Option<usize>,
    layout: &str,
) -> PyResult<String> {
    Ok(keys(name, shard, shards, layout)?.dead_letter_stream(shard))
}

/// The hash slot of shard `shard`'s stream.
#[pyfunction]
#[pyo3(signature = (name, shard, shards=None, layout="go"))]
pub fn shard_slot(name: &str, shard: usize, shards: Option<usize>, layout: &str) -> PyResult<u16> {
    Ok(keys(name, shard, shards, layout)?.slot(shard))
}

/// The consumer group every consumer of queue `name` shares: ``qu_<name>_group``.
#[pyfunction]
pub fn group_name(name: &str) -> String {
    naming::group_name(name)
}

/// Raises `ConfigError` unless `name` follows the rules for queue names.
#[pyfunction]
pub fn validate_name(name: &str) -> PyResult<()> {
    Ok(naming::validate_name("name", name)?)
}

fn keys(name: &str, shard: usize, shards: Option<usize>, layout: &str) -> Result<QueueKeys, Error> {
    let layout = Layout::parse(layout)?;
    let shards = match (shards, layout) {
        (Some(shards), _) if shard < shards => shards,
        (Some(shards), _) => {
            return Err(Error::invalid(
                "shard",
                format!("the queue has {shards} shards, not {}", shard + 1),
            ))
        }
        (None, Layout::Go) => shard + 1,
        (None, Layout::Spread) => {
            return Err(Error::invalid(
                "shards",
                "the spread layout places shards by their count: pass shards",
            ))
        }
    };
    Ok(QueueKeys::new(name, layout, shards))
}

/// The shard that messages sent with `key` go to in a queue of `shards` shards.
#[pyfunction]
pub fn shard_for_key(key: &Bound<'_, PyAny>, shards: usize) -> PyResult<usize> {
    validate_shards(shards)?;
    Ok(key_shard(&args::key(key)?, shards))
}
