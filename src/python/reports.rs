//! `ami.DeliveryReport`: what became of one batch a producer wrote, for `on_delivery`.
//!
//! One object per batch; its lists (ids, bodies, headers) are built only when asked for.

use super::errors::to_exception;
use super::message::headers_dict;
use crate::producer::reports::Report;
use crate::wire::headers::{unpack, Headers};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

#[pyclass(frozen, name = "DeliveryReport", module = "ami")]
pub struct DeliveryReportPy {
    report: Report,
    /// The shard stream the batch was written to (or meant for).
    #[pyo3(get)]
    stream: Py<PyString>,
    /// Why the failed messages failed (the first error), or None when all were written.
    #[pyo3(get)]
    error: Option<Py<PyAny>>,
}

impl DeliveryReportPy {
    pub fn new(py: Python<'_>, mut report: Report, stream: Py<PyString>) -> Self {
        let error = report.error.take().map(|e| to_exception(py, e));
        Self {
            report,
            stream,
            error,
        }
    }
}

#[pymethods]
impl DeliveryReportPy {
    /// The shard number of `stream`.
    #[getter]
    fn shard(&self) -> usize {
        self.report.shard
    }

    /// How many of its messages were written.
    #[getter]
    fn written(&self) -> usize {
        self.report.batch.len() - self.report.failed
    }

    /// How many failed (see `error`).
    #[getter]
    fn failed(&self) -> usize {
        self.report.failed
    }

    /// Each message's entry id in `stream`, in the order they were sent; None for a
    /// message that failed.
    #[getter]
    fn ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let ids = self
            .report
            .ids
            .iter()
            .map(|id| id.map(|id| PyString::new(py, &id.to_string())));
        PyList::new(py, ids)
    }

    /// Each message's body, in the same order.
    #[getter]
    fn bodies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.report.batch.iter().map(|b| PyBytes::new(py, b)))
    }

    /// Each message's headers (an empty dict for one without), in the same order.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let batch = &self.report.batch;
        let dicts = (0..batch.len())
            .map(|i| match batch.headers(i) {
                None => Ok(PyDict::new(py)),
                Some((_, packed)) => {
                    let headers: Headers = unpack(packed)
                        .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.to_vec()))
                        .collect();
                    headers_dict(py, &headers)
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, dicts)
    }

    fn __len__(&self) -> usize {
        self.report.batch.len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<DeliveryReport {}: {} written, {} failed>",
            self.stream.bind(py).to_str()?,
            self.written(),
            self.report.failed
        ))
    }
}
