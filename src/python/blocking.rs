//! Runs one core future to completion for a blocking Python call: the GIL is released
//! while it runs, and Ctrl-C cancels it between slices.

use super::wait;
use crate::error::Error;
use crate::runtime::runtime;
use pyo3::prelude::*;
use std::future::Future;

pub fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let rt = runtime();
    let mut task = rt.spawn(future);
    let joined = wait::until(py, None, |slice| {
        rt.block_on(async { tokio::time::timeout(slice, &mut task).await.ok() })
    });
    match joined {
        Ok(Some(Ok(outcome))) => Ok(outcome?),
        Ok(Some(Err(join_error))) => Err(Error::Panicked {
            task: "admin",
            detail: join_error.to_string(),
        }
        .into()),
        Ok(None) => unreachable!("a wait without a timeout returned"),
        Err(interrupted) => {
            task.abort();
            Err(interrupted)
        }
    }
}
