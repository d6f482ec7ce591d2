//! Conversions of Python arguments: seconds to durations, bodies to bytes.

use super::errors::invalid_message;
use crate::error::Error;
use crate::options::{ConnectionOptions, Secret, TlsOptions};
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

/// The connection keywords every client takes, as Python passed them.
pub struct ConnectionArgs<'a> {
    pub nodes: Vec<String>,
    pub connect_timeout: f64,
    pub response_timeout: f64,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: bool,
    pub tls_ca_file: Option<&'a str>,
    pub tls_cert_file: Option<&'a str>,
    pub tls_key_file: Option<&'a str>,
    pub tls_insecure_skip_verify: bool,
}

impl ConnectionArgs<'_> {
    pub fn into_options(self) -> Result<ConnectionOptions, Error> {
        Ok(ConnectionOptions {
            nodes: self.nodes,
            username: self.username,
            password: self.password.map(Secret::new),
            tls: tls_options(
                self.tls,
                self.tls_ca_file,
                self.tls_cert_file,
                self.tls_key_file,
                self.tls_insecure_skip_verify,
            )?,
            connect_timeout: seconds("connect_timeout", self.connect_timeout)?,
            response_timeout: seconds("response_timeout", self.response_timeout)?,
        })
    }
}

/// TLS options from file paths; `None` when TLS was not asked for.
fn tls_options(
    tls: bool,
    ca_file: Option<&str>,
    cert_file: Option<&str>,
    key_file: Option<&str>,
    insecure_skip_verify: bool,
) -> Result<Option<TlsOptions>, Error> {
    let wanted = tls || ca_file.is_some() || cert_file.is_some() || insecure_skip_verify;
    if !wanted {
        return Ok(None);
    }
    let client_cert = match (cert_file, key_file) {
        (Some(cert), Some(key)) => {
            let key = String::from_utf8(read("tls_key_file", key)?)
                .map_err(|_| Error::invalid("tls_key_file", "is not a PEM text file"))?;
            Some((read("tls_cert_file", cert)?, Secret::new(key)))
        }
        (None, None) => None,
        _ => {
            return Err(Error::invalid(
                "tls_cert_file",
                "needs tls_key_file, and the other way round",
            ))
        }
    };
    let ca = ca_file.map(|path| read("tls_ca_file", path)).transpose()?;
    Ok(Some(TlsOptions {
        ca,
        client_cert,
        insecure_skip_verify,
    }))
}

fn read(option: &'static str, path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::invalid(option, format!("cannot read {path:?}: {e}")))
}
