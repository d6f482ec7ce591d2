//! The wire's naming rules, exported so Python tooling never spells a key itself.

use super::args;
use crate::options::validate_shards;
use crate::producer::placement::key_shard;
use crate::wire::naming;
use pyo3::prelude::*;

/// The stream of shard `shard` of queue `name`: ``qu{<shard>}_<name>``.
#[pyfunction]
pub fn stream_name(name: &str, shard: usize) -> String {
    naming::stream_name(name, shard)
}

/// The dead-letter stream of shard `shard`: ``qu{<shard>}:dlq:<name>``.
#[pyfunction]
pub fn dead_letter_stream_name(name: &str, shard: usize) -> String {
    naming::dead_letter_stream_name(name, shard)
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

/// The shard that messages sent with `key` go to in a queue of `shards` shards.
#[pyfunction]
pub fn shard_for_key(key: &Bound<'_, PyAny>, shards: usize) -> PyResult<usize> {
    validate_shards(shards)?;
    Ok(key_shard(&args::key(key)?, shards))
}
