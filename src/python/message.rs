//! `ami.Message`: one delivered entry, immutable.

use crate::consumer::delivery::Place;
use crate::wire::headers::Headers;
use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

/// Longest body prefix shown by `repr`.
const REPR_BODY: usize = 40;

#[pyclass(frozen, name = "Message", module = "ami")]
pub struct MessagePy {
    #[pyo3(get)]
    pub body: Py<PyBytes>,
    /// Kept as read: a dict is built only when asked for.
    pub headers: Headers,
    #[pyo3(get)]
    pub id: Py<PyString>,
    #[pyo3(get)]
    pub stream: Py<PyString>,
    #[pyo3(get)]
    pub group: Py<PyString>,
    pub shard: usize,
    /// How many times the entry has been delivered, this time included.
    #[pyo3(get)]
    pub deliveries: u64,
    pub place: Place,
}

#[pymethods]
impl MessagePy {
    /// The body decoded as UTF-8.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        // bytes.decode raises the standard UnicodeDecodeError, with its position.
        Ok(self
            .body
            .bind(py)
            .call_method1("decode", ("utf-8",))?
            .cast_into::<PyString>()?)
    }

    /// The headers, as a new dict each time (empty for a message without any).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        headers_dict(py, &self.headers)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let body = self.body.bind(py);
        let shown = PyBytes::new(py, &body.as_bytes()[..body.as_bytes().len().min(REPR_BODY)]);
        let ellipsis = if body.as_bytes().len() > REPR_BODY {
            "..."
        } else {
            ""
        };
        Ok(format!(
            "Message(id={}, stream={}, body={}{ellipsis})",
            self.id.bind(py).repr()?,
            self.stream.bind(py).repr()?,
            shown.repr()?,
        ))
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let Ok(other) = other.cast::<MessagePy>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let same = self.id.bind(py).to_str()? == other.id.bind(py).to_str()?
            && self.stream.bind(py).to_str()? == other.stream.bind(py).to_str()?;
        match op {
            CompareOp::Eq => Ok(same.into_pyobject(py)?.to_owned().into_any().unbind()),
            CompareOp::Ne => Ok((!same).into_pyobject(py)?.to_owned().into_any().unbind()),
            _ => Ok(py.NotImplemented()),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.stream.bind(py), self.id.bind(py))
            .into_pyobject(py)?
            .hash()
    }
}

/// Headers as `dict[str, bytes]`; of a name given twice (only another writer could), the
/// first counts, as for the body.
pub fn headers_dict<'py>(py: Python<'py>, headers: &Headers) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in headers {
        let name = PyString::new(py, name);
        if !dict.contains(&name)? {
            dict.set_item(name, PyBytes::new(py, value))?;
        }
    }
    Ok(dict)
}
