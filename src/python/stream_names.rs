//! The shard streams' names as Python strings, interned once so every message and
//! report of a shard shares one object. A queue grown under its client gains streams,
//! which are added the first time a shard past the known ones is asked for.

use parking_lot::{Mutex, MutexGuard};
use pyo3::prelude::*;
use pyo3::types::PyString;

pub struct StreamNames {
    names: Mutex<Vec<Py<PyString>>>,
}

impl StreamNames {
    pub fn new(py: Python<'_>, streams: &[String]) -> Self {
        Self {
            names: Mutex::new(intern(py, streams)),
        }
    }

    /// The names, at least `shards` of them when `current` (the client's streams now)
    /// has that many.
    pub fn up_to(
        &self,
        py: Python<'_>,
        shards: usize,
        current: impl FnOnce() -> Vec<String>,
    ) -> MutexGuard<'_, Vec<Py<PyString>>> {
        let mut names = self.names.lock();
        if names.len() < shards {
            let streams = current();
            let known = names.len();
            names.extend(intern(py, &streams[known.min(streams.len())..]));
        }
        names
    }
}

fn intern(py: Python<'_>, streams: &[String]) -> Vec<Py<PyString>> {
    streams
        .iter()
        .map(|s| PyString::intern(py, s).unbind())
        .collect()
}
