//! Conversions of Python arguments: seconds to durations, bodies to bytes.

use super::errors::invalid_message;
use crate::error::Error;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use std::borrow::Cow;
use std::time::Duration;

/// Seconds as a float (finite, not negative) to a `Duration`.
pub fn seconds(option: &'static str, value: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        Error::invalid(
            option,
            format!("must be a finite number of seconds >= 0, got {value}"),
        )
    })
}

pub fn optional_seconds(
    option: &'static str,
    value: Option<f64>,
) -> Result<Option<Duration>, Error> {
    value.map(|v| seconds(option, v)).transpose()
}

/// A count from Python: negative values are an invalid option, not an `OverflowError`.
pub fn count(option: &'static str, value: i64) -> Result<usize, Error> {
    usize::try_from(value)
        .map_err(|_| Error::invalid(option, format!("must not be negative, got {value}")))
}

/// The bytes of a message body: `bytes` and `bytearray` as they are, `str` as UTF-8.
pub fn body<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Cow::Borrowed(text.to_str()?.as_bytes()));
    }
    if let Ok(array) = value.cast::<PyByteArray>() {
        return Ok(Cow::Owned(array.to_vec()));
    }
    let type_name = value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    Err(invalid_message(format!(
        "a message body must be bytes, bytearray or str, not {type_name}"
    )))
}
