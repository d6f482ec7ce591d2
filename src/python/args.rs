//! Conversions of Python arguments: seconds to durations, bodies to bytes.

use super::errors::{invalid_header, invalid_message};
use crate::error::Error;
use crate::wire::headers::PackedHeaders;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMapping, PyString};
use std::borrow::Cow;
use std::cell::RefCell;
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

/// The bytes of a message key: `bytes` and `bytearray` as they are, `str` as UTF-8.
pub fn key<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(text) = value.cast::<PyString>() {
        let text = text
            .to_str()
            .map_err(|_| invalid_message("a key of type str must be valid UTF-8".to_owned()))?;
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    bytes_of(value).ok_or_else(|| {
        invalid_message(format!(
            "a key must be str, bytes or bytearray, not {}",
            type_name(value)
        ))
    })
}

thread_local! {
    /// Reused by `with_headers`, so a message with headers allocates nothing of its own.
    static SCRATCH: RefCell<PackedHeaders> = RefCell::default();
}

/// Runs `then` with the headers `value` gives, checked and packed (see `headers`) into a
/// buffer this thread reuses.
pub fn with_headers<R>(
    value: Option<&Bound<'_, PyAny>>,
    then: impl FnOnce(&PackedHeaders) -> PyResult<R>,
) -> PyResult<R> {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut packed) => {
            packed.clear();
            pack_headers(value, &mut packed)?;
            then(&packed)
        }
        // Re-entered (a signal handler that sends, while a send waits for room).
        Err(_) => then(&headers(value)?),
    })
}

/// Headers given as a mapping of names (`str`) to values (`bytes`, `bytearray` or `str`),
/// checked and packed; `None` is no headers.
pub fn headers(value: Option<&Bound<'_, PyAny>>) -> PyResult<PackedHeaders> {
    let mut packed = PackedHeaders::default();
    pack_headers(value, &mut packed)?;
    Ok(packed)
}

fn pack_headers(value: Option<&Bound<'_, PyAny>>, packed: &mut PackedHeaders) -> PyResult<()> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(());
    };
    if let Ok(dict) = value.cast::<PyDict>() {
        for (name, value) in dict.iter() {
            push_header(packed, &name, &value)?;
        }
    } else if let Ok(mapping) = value.cast::<PyMapping>() {
        for item in mapping.items()?.iter() {
            let (name, value) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
            push_header(packed, &name, &value)?;
        }
    } else {
        return Err(invalid_header(format!(
            "headers must be a mapping of str to bytes or str, not {}",
            type_name(value)
        )));
    }
    Ok(())
}

fn push_header(
    packed: &mut PackedHeaders,
    name: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let Ok(name) = name.cast::<PyString>() else {
        return Err(invalid_header(format!(
            "a header name must be str, not {}",
            type_name(name)
        )));
    };
    let Ok(name) = name.to_str() else {
        return Err(invalid_header(format!(
            "header name {} is not valid UTF-8",
            name.repr()
                .map_or_else(|_| "?".to_owned(), |r| r.to_string())
        )));
    };
    let Some(value) = bytes_of(value) else {
        return Err(invalid_header(format!(
            "the value of header {name:?} must be bytes, bytearray or str, not {}",
            type_name(value)
        )));
    };
    packed.push(name, &value).map_err(invalid_header)
}

/// `bytes` and `bytearray` as they are, `str` as UTF-8; `None` for other types (and for
/// a `str` that cannot be encoded).
fn bytes_of<'a>(value: &'a Bound<'_, PyAny>) -> Option<Cow<'a, [u8]>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Some(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return text.to_str().ok().map(|t| Cow::Borrowed(t.as_bytes()));
    }
    if let Ok(array) = value.cast::<PyByteArray>() {
        return Some(Cow::Owned(array.to_vec()));
    }
    None
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}
