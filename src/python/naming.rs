//! The wire's naming rules, exported so Python tooling never spells a key itself.

use super::args;
use crate::error::Error;
use crate::options::validate_shards;
use crate::producer::placement::key_shard;
use crate::wire::hash_slot::SLOTS;
use crate::wire::naming::{self, Layout, QueueKeys};
use crate::wire::offset_choice::choose_offset;
use pyo3::prelude::*;

/// The stream of shard `shard` of queue `name`: ``qu{<shard>}_<name>`` in the Go
/// layout, ``qu{<tag>}_<name>`` in the spread one (which needs `shards`, and the
/// `offset` the queue records, else the slot of the name).
#[pyfunction]
#[pyo3(signature = (name, shard, shards=None, layout="go", offset=None))]
pub fn stream_name(
    name: &str,
    shard: usize,
    shards: Option<usize>,
    layout: &str,
    offset: Option<u16>,
) -> PyResult<String> {
    Ok(keys(name, shard, shards, layout, offset)?.stream(shard))
}

/// The dead-letter stream of shard `shard`: ``qu{<tag>}:dlq:<name>``, the tag of its
/// shard stream.
#[pyfunction]
#[pyo3(signature = (name, shard, shards=None, layout="go", offset=None))]
pub fn dead_letter_stream_name(
    name: &str,
    shard: usize,
    shards: Option<usize>,
    layout: &str,
    offset: Option<u16>,
) -> PyResult<String> {
    Ok(keys(name, shard, shards, layout, offset)?.dead_letter_stream(shard))
}

/// The hash slot of shard `shard`'s stream.
#[pyfunction]
#[pyo3(signature = (name, shard, shards=None, layout="go", offset=None))]
pub fn shard_slot(
    name: &str,
    shard: usize,
    shards: Option<usize>,
    layout: &str,
    offset: Option<u16>,
) -> PyResult<u16> {
    Ok(keys(name, shard, shards, layout, offset)?.slot(shard))
}

/// The offset a new spread queue of `shards` shards gets on masters owning the slot
/// `ranges` (inclusive `(first, last)`, one per master), with the spread queues
/// `placed` (``(name, shards, offset)``, the offset ``None`` for one from the name)
/// already there: what clients choose when they create a queue, for planning and the
/// computed spread table.
#[pyfunction]
pub fn choose_spread_offset(
    ranges: Vec<(u16, u16)>,
    placed: Vec<(String, usize, Option<u16>)>,
    shards: usize,
) -> PyResult<u16> {
    validate_shards(shards)?;
    let mut owner = vec![None; usize::from(SLOTS)];
    for (master, (first, last)) in ranges.into_iter().enumerate() {
        if first > last || last >= SLOTS {
            return Err(Error::invalid(
                "ranges",
                format!("({first}, {last}) is not a range of slots, 0 to 16383"),
            )
            .into());
        }
        owner[usize::from(first)..=usize::from(last)].fill(Some(master));
    }
    let mut taken = Vec::with_capacity(placed.len());
    for (name, count, offset) in placed {
        validate_shards(count)?;
        let keys = QueueKeys::new(&name, Layout::Spread, count);
        taken.push(match offset {
            Some(offset) => keys.at_offset(checked_offset(offset)?),
            None => keys,
        });
    }
    Ok(choose_offset(&owner, &taken, shards))
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

fn checked_offset(offset: u16) -> Result<u16, Error> {
    if offset < SLOTS {
        Ok(offset)
    } else {
        Err(Error::invalid(
            "offset",
            format!("must be a slot, 0 to 16383, got {offset}"),
        ))
    }
}

fn keys(
    name: &str,
    shard: usize,
    shards: Option<usize>,
    layout: &str,
    offset: Option<u16>,
) -> Result<QueueKeys, Error> {
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
    let keys = QueueKeys::new(name, layout, shards);
    match offset {
        Some(_) if layout == Layout::Go => Err(Error::invalid(
            "offset",
            "only the spread layout has an offset",
        )),
        Some(offset) => Ok(keys.at_offset(checked_offset(offset)?)),
        None => Ok(keys),
    }
}

/// The shard that messages sent with `key` go to in a queue of `shards` shards.
#[pyfunction]
pub fn shard_for_key(key: &Bound<'_, PyAny>, shards: usize) -> PyResult<usize> {
    validate_shards(shards)?;
    Ok(key_shard(&args::key(key)?, shards))
}
