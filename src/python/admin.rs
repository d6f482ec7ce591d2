//! `_ami.AdminCore`: the admin handle under `ami.inspect`, `ami.DeadLetters`,
//! `ami.ops.tail` and the command line. Rows go to Python as tuples; the Python layer
//! names them.

use super::args::count;
use super::blocking::block_on;
use super::client_options::connection_options;
use super::message::headers_dict;
use crate::admin::{Admin, DeadLetter, GroupStats, ShardStats, TailEntry};
use crate::error::Error;
use crate::wire::naming::{Layout, QueueKeys};
use crate::wire::stream_id::StreamId;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::Arc;

type ConsumerRow = (String, u64, u64);
type GroupRow = (String, u64, Option<u64>, Option<u64>, Vec<ConsumerRow>);
type ShardRow = (String, u64, u64, Option<GroupRow>, Option<String>);
type LetterRow<'py> = (
    usize,
    String,
    Bound<'py, PyBytes>,
    String,
    u64,
    String,
    String,
    Bound<'py, PyDict>,
);
type EntryRow<'py> = (
    usize,
    String,
    Option<Bound<'py, PyBytes>>,
    Bound<'py, PyDict>,
);

#[pyclass(frozen, name = "AdminCore", module = "ami._ami")]
pub struct AdminCorePy {
    admin: Mutex<Option<Arc<Admin>>>,
    keys: QueueKeys,
}

#[pymethods]
impl AdminCorePy {
    #[new]
    #[pyo3(signature = (name, shards=None, layout=None, **options))]
    fn new(
        py: Python<'_>,
        name: String,
        shards: Option<i64>,
        layout: Option<&str>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = connection_options(py, options)?;
        let shards = shards.map(|s| count("shards", s)).transpose()?;
        let layout = layout.map(Layout::parse).transpose()?;
        let admin = block_on(py, async move {
            Admin::open(&name, shards, layout, &options).await
        })?;
        Ok(Self {
            keys: admin.keys().clone(),
            admin: Mutex::new(Some(Arc::new(admin))),
        })
    }

    #[getter]
    fn shards(&self) -> usize {
        self.keys.shards()
    }

    /// The queue's layout, `"go"` or `"spread"`.
    #[getter]
    fn layout(&self) -> &'static str {
        self.keys.layout().as_str()
    }

    /// The slot of shard 0 in the spread layout (as recorded, else the slot of the
    /// name); `None` in the Go layout.
    #[getter]
    fn offset(&self) -> Option<u16> {
        (self.keys.layout() == Layout::Spread).then(|| self.keys.offset())
    }

    /// The stream of shard `shard`.
    fn stream(&self, shard: usize) -> PyResult<String> {
        Ok(self.keys.stream(self.shard(shard)?))
    }

    /// The dead-letter stream of shard `shard`.
    fn dead_letter_stream(&self, shard: usize) -> PyResult<String> {
        Ok(self.keys.dead_letter_stream(self.shard(shard)?))
    }

    fn exists(&self, py: Python<'_>) -> PyResult<bool> {
        let admin = self.open()?;
        block_on(py, async move { admin.exists().await })
    }

    fn shard_stats(&self, py: Python<'_>) -> PyResult<Vec<ShardRow>> {
        let admin = self.open()?;
        let shards = block_on(py, async move { admin.shard_stats().await })?;
        Ok(shards.into_iter().map(shard_row).collect())
    }

    fn dead_letter_count(&self, py: Python<'_>) -> PyResult<u64> {
        let admin = self.open()?;
        block_on(py, async move { admin.dead_letter_count().await })
    }

    fn dead_letters<'py>(
        &self,
        py: Python<'py>,
        shard: usize,
        start: String,
        end: String,
        limit: i64,
    ) -> PyResult<Vec<LetterRow<'py>>> {
        let admin = self.open()?;
        let shard = self.shard(shard)?;
        let limit = count("limit", limit)?;
        let letters = block_on(py, async move {
            admin.dead_letters(shard, &start, &end, limit).await
        })?;
        letters.into_iter().map(|l| letter_row(py, l)).collect()
    }

    fn replay(&self, py: Python<'_>, shard: usize, id: String) -> PyResult<bool> {
        let admin = self.open()?;
        let shard = self.shard(shard)?;
        block_on(py, async move { admin.replay(shard, &id).await })
    }

    fn replay_all(&self, py: Python<'_>) -> PyResult<u64> {
        let admin = self.open()?;
        block_on(py, async move { admin.replay_all().await })
    }

    fn purge(&self, py: Python<'_>, shard: usize, ids: Vec<String>) -> PyResult<u64> {
        let admin = self.open()?;
        let shard = self.shard(shard)?;
        block_on(py, async move { admin.purge(shard, &ids).await })
    }

    fn purge_all(&self, py: Python<'_>) -> PyResult<u64> {
        let admin = self.open()?;
        block_on(py, async move { admin.purge_all().await })
    }

    fn newest<'py>(
        &self,
        py: Python<'py>,
        limit: i64,
    ) -> PyResult<(Vec<EntryRow<'py>>, Vec<String>)> {
        let admin = self.open()?;
        let wanted = count("count", limit)?;
        let (entries, cursors) = block_on(py, async move { admin.newest(wanted).await })?;
        Ok((
            entry_rows(py, entries)?,
            cursors.iter().map(ToString::to_string).collect(),
        ))
    }

    fn after<'py>(
        &self,
        py: Python<'py>,
        cursors: Vec<String>,
        limit: i64,
    ) -> PyResult<(Vec<EntryRow<'py>>, Vec<String>)> {
        let admin = self.open()?;
        let limit = count("limit", limit)?;
        let mut cursors = cursors
            .into_iter()
            .map(|c| {
                StreamId::parse(&c)
                    .ok_or_else(|| Error::invalid("cursors", format!("{c:?} is not a stream id")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (entries, cursors) = block_on(py, async move {
            let entries = admin.after(&mut cursors, limit).await?;
            Ok((entries, cursors))
        })?;
        Ok((
            entry_rows(py, entries)?,
            cursors.iter().map(ToString::to_string).collect(),
        ))
    }

    /// Raises the queue's shard count; returns the new count. This handle keeps the old.
    fn grow(&self, py: Python<'_>, shards: i64) -> PyResult<usize> {
        let admin = self.open()?;
        let shards = count("shards", shards)?;
        let grown = block_on(py, async move { admin.grow(shards).await })?;
        Ok(grown.shards())
    }

    /// Drops the connections; later calls raise `ClientClosedError`.
    fn close(&self) {
        self.admin.lock().take();
    }
}

impl AdminCorePy {
    fn open(&self) -> Result<Arc<Admin>, Error> {
        self.admin.lock().clone().ok_or(Error::Closed {
            what: "admin handle",
        })
    }

    fn shard(&self, shard: usize) -> Result<usize, Error> {
        if shard < self.keys.shards() {
            Ok(shard)
        } else {
            Err(Error::invalid(
                "shard",
                format!(
                    "the queue has {} shards, not {}",
                    self.keys.shards(),
                    shard + 1
                ),
            ))
        }
    }
}

fn shard_row(shard: ShardStats) -> ShardRow {
    (
        shard.stream,
        shard.length,
        shard.dead_letters,
        shard.group.map(group_row),
        shard.master,
    )
}

fn group_row(group: GroupStats) -> GroupRow {
    (
        group.last_delivered_id,
        group.pending,
        group.lag,
        group.oldest_pending_age_ms,
        group
            .consumers
            .into_iter()
            .map(|c| (c.name, c.pending, c.idle_ms))
            .collect(),
    )
}

fn letter_row(py: Python<'_>, letter: DeadLetter) -> PyResult<LetterRow<'_>> {
    Ok((
        letter.shard,
        letter.id,
        PyBytes::new(py, &letter.body),
        letter.reason,
        letter.deliveries,
        letter.original_id,
        letter.original_stream,
        headers_dict(py, &letter.headers)?,
    ))
}

fn entry_rows(py: Python<'_>, entries: Vec<TailEntry>) -> PyResult<Vec<EntryRow<'_>>> {
    entries
        .into_iter()
        .map(|e| {
            Ok((
                e.shard,
                e.id.to_string(),
                e.body.map(|b| PyBytes::new(py, &b)),
                headers_dict(py, &e.headers)?,
            ))
        })
        .collect()
}
