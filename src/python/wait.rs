//! Waits that release the GIL in short slices so Ctrl-C is noticed between them.

use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// Longest stretch spent without the GIL before signals are checked.
const SLICE: Duration = Duration::from_millis(100);

/// Runs `attempt` with the GIL released, each time for at most one slice of the time
/// left, until it returns `Some` or `timeout` (`None`: forever) runs out.
pub fn until<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut attempt: impl FnMut(Duration) -> Option<T> + Send,
) -> PyResult<Option<T>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let slice = deadline.map_or(SLICE, |d| {
            d.saturating_duration_since(Instant::now()).min(SLICE)
        });
        if let Some(done) = py.detach(|| attempt(slice)) {
            return Ok(Some(done));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}
