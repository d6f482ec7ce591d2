//! Options as Python keywords: one visit of an options struct either reads the keywords
//! into it or writes its values out, so an option's key is written once for both.

use super::args::{count, seconds};
use crate::options::Secret;
use crate::wire::naming::Layout;
use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;
use std::time::Duration;

/// An option's value as Python passes it and as `defaults()` shows it.
pub trait Keyword: Sized {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self>;
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

/// Something done to every option of a struct, one key at a time.
pub trait Visit {
    fn option<T: Keyword>(&mut self, key: &'static str, value: &mut T) -> PyResult<()>;
}

/// Sets each option whose key was passed; the others keep their defaults.
pub struct Reader<'a, 'py> {
    keywords: Option<&'a Bound<'py, PyDict>>,
}

impl<'a, 'py> Reader<'a, 'py> {
    /// Refuses a keyword that is not in `known` the way Python does, with a `TypeError`,
    /// before any value is looked at.
    pub fn new(
        owner: &str,
        keywords: Option<&'a Bound<'py, PyDict>>,
        known: &Bound<'py, PyDict>,
    ) -> PyResult<Self> {
        for key in keywords.iter().flat_map(|k| k.keys()) {
            if !known.contains(&key)? {
                return Err(PyTypeError::new_err(format!(
                    "{owner}() got an unexpected keyword argument {}",
                    key.repr()?
                )));
            }
        }
        Ok(Self { keywords })
    }
}

impl Visit for Reader<'_, '_> {
    fn option<T: Keyword>(&mut self, key: &'static str, value: &mut T) -> PyResult<()> {
        if let Some(given) = self
            .keywords
            .map(|k| k.get_item(key))
            .transpose()?
            .flatten()
        {
            *value = T::from_py(key, &given)?;
        }
        Ok(())
    }
}

/// Writes every option into a dict, keyed as Python passes it.
pub struct Writer<'py> {
    pub dict: Bound<'py, PyDict>,
}

impl<'py> Writer<'py> {
    pub fn new(py: Python<'py>) -> Self {
        Self {
            dict: PyDict::new(py),
        }
    }
}

impl Visit for Writer<'_> {
    fn option<T: Keyword>(&mut self, key: &'static str, value: &mut T) -> PyResult<()> {
        self.dict.set_item(key, value.to_py(self.dict.py())?)
    }
}

/// Extracts like a `PyO3` argument: a wrong type is a `TypeError` noting the option.
fn extract<T: for<'py> FromPyObjectOwned<'py>>(
    key: &'static str,
    value: &Bound<'_, PyAny>,
) -> PyResult<T> {
    value.extract::<T>().map_err(|error| {
        let error: PyErr = error.into();
        let note = format!("while processing '{key}'");
        // add_note is Python 3.11+; on 3.10 the error goes without it.
        let _ = error.value(value.py()).call_method1("add_note", (note,));
        error
    })
}

/// Counts and sizes: a negative one is an invalid option, not an `OverflowError`.
impl Keyword for usize {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(count(key, extract(key, value)?)?)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (*self).into_bound_py_any(py)
    }
}

impl Keyword for u64 {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(usize::from_py(key, value)? as u64)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (*self).into_bound_py_any(py)
    }
}

/// Durations are float seconds.
impl Keyword for Duration {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(seconds(key, extract(key, value)?)?)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_secs_f64().into_bound_py_any(py)
    }
}

impl Keyword for bool {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        extract(key, value)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (*self).into_bound_py_any(py)
    }
}

impl Keyword for String {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        extract(key, value)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.into_bound_py_any(py)
    }
}

impl Keyword for Vec<String> {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        extract(key, value)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.into_bound_py_any(py)
    }
}

impl Keyword for Secret {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        extract::<String>(key, value).map(Secret::new)
    }

    /// Redacted: a password is never handed back.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        format!("{self:?}").into_bound_py_any(py)
    }
}

/// A layout is passed and shown by its name, `"go"` or `"spread"`.
impl Keyword for Layout {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Layout::parse(&extract::<String>(key, value)?)?)
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_str().into_bound_py_any(py)
    }
}

/// `None` is passed and shown as `None`.
impl<T: Keyword> Keyword for Option<T> {
    fn from_py(key: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        if value.is_none() {
            Ok(None)
        } else {
            T::from_py(key, value).map(Some)
        }
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(value) => value.to_py(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}
