//! The keyword options of `ProducerCore` and `ConsumerCore`, each listed once: read from
//! the keywords over the defaults of `crate::options`, or shown as those defaults.

use super::keywords::{Reader, Visit, Writer};
use crate::error::Error;
use crate::options::{ConnectionOptions, ConsumerOptions, ProducerOptions, Secret, TlsOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub fn producer_options(
    py: Python<'_>,
    name: String,
    keywords: Option<&Bound<'_, PyDict>>,
) -> PyResult<ProducerOptions> {
    let mut reader = Reader::new("ProducerCore", keywords, &producer_defaults(py)?)?;
    let mut options = ProducerOptions {
        name,
        ..ProducerOptions::default()
    };
    let mut tls = TlsFiles::default();
    visit_producer(&mut reader, &mut options, &mut tls)?;
    options.connection.tls = tls.read()?;
    Ok(options)
}

pub fn consumer_options(
    py: Python<'_>,
    name: String,
    consumer: String,
    keywords: Option<&Bound<'_, PyDict>>,
) -> PyResult<ConsumerOptions> {
    let mut reader = Reader::new("ConsumerCore", keywords, &consumer_defaults(py)?)?;
    let mut options = ConsumerOptions {
        name,
        consumer,
        ..ConsumerOptions::default()
    };
    let mut tls = TlsFiles::default();
    visit_consumer(&mut reader, &mut options, &mut tls)?;
    // A zero block would make XREADGROUP wait forever: it polls, as None does.
    options.block = options.block.filter(|block| !block.is_zero());
    options.connection.tls = tls.read()?;
    Ok(options)
}

pub fn producer_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let mut writer = Writer::new(py);
    visit_producer(
        &mut writer,
        &mut ProducerOptions::default(),
        &mut TlsFiles::default(),
    )?;
    Ok(writer.dict)
}

pub fn consumer_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let mut writer = Writer::new(py);
    visit_consumer(
        &mut writer,
        &mut ConsumerOptions::default(),
        &mut TlsFiles::default(),
    )?;
    Ok(writer.dict)
}

fn visit_producer(
    visit: &mut impl Visit,
    options: &mut ProducerOptions,
    tls: &mut TlsFiles,
) -> PyResult<()> {
    visit.option("shards", &mut options.shards)?;
    visit.option("layout", &mut options.layout)?;
    visit.option("pending_buffer_size", &mut options.pending_buffer_size)?;
    visit.option("pending_buffer_bytes", &mut options.pending_buffer_bytes)?;
    visit.option("pipe_buffer_size", &mut options.pipe_buffer_size)?;
    visit.option("pipe_buffer_bytes", &mut options.pipe_buffer_bytes)?;
    visit.option("max_message_bytes", &mut options.max_message_bytes)?;
    visit.option("pipe_period", &mut options.pipe_period)?;
    visit.option("max_in_flight", &mut options.max_in_flight)?;
    visit.option("delivery_timeout", &mut options.delivery_timeout)?;
    visit.option("send_timeout", &mut options.send_timeout)?;
    visit.option("create_group", &mut options.create_group)?;
    visit.option("check_shards", &mut options.check_shards)?;
    visit.option("wait_replicas", &mut options.wait_replicas)?;
    visit.option("wait_timeout", &mut options.wait_timeout)?;
    visit.option("balance_masters", &mut options.balance_masters)?;
    visit_connection(visit, &mut options.connection, tls)
}

fn visit_consumer(
    visit: &mut impl Visit,
    options: &mut ConsumerOptions,
    tls: &mut TlsFiles,
) -> PyResult<()> {
    visit.option("shards", &mut options.shards)?;
    visit.option("layout", &mut options.layout)?;
    visit.option("prefetch_count", &mut options.prefetch_count)?;
    visit.option("block", &mut options.block)?;
    visit.option("pending_buffer_size", &mut options.pending_buffer_size)?;
    visit.option("pipe_buffer_size", &mut options.pipe_buffer_size)?;
    visit.option("pipe_period", &mut options.pipe_period)?;
    visit.option("ack_timeout", &mut options.ack_timeout)?;
    visit.option("claim_idle", &mut options.claim_idle)?;
    visit.option("max_deliveries", &mut options.max_deliveries)?;
    visit.option("check_shards", &mut options.check_shards)?;
    visit.option("trim_acked", &mut options.trim_acked)?;
    visit_connection(visit, &mut options.connection, tls)
}

fn visit_connection(
    visit: &mut impl Visit,
    options: &mut ConnectionOptions,
    tls: &mut TlsFiles,
) -> PyResult<()> {
    visit.option("nodes", &mut options.nodes)?;
    visit.option("connect_timeout", &mut options.connect_timeout)?;
    visit.option("response_timeout", &mut options.response_timeout)?;
    visit.option("username", &mut options.username)?;
    visit.option("password", &mut options.password)?;
    visit.option("tls", &mut tls.tls)?;
    visit.option("tls_ca_file", &mut tls.ca_file)?;
    visit.option("tls_cert_file", &mut tls.cert_file)?;
    visit.option("tls_key_file", &mut tls.key_file)?;
    visit.option("tls_insecure_skip_verify", &mut tls.insecure_skip_verify)
}

/// The TLS keywords: paths, whose files are read once every keyword is known. All off by
/// default, as `ConnectionOptions::default()` has no TLS.
#[derive(Default)]
struct TlsFiles {
    tls: bool,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    insecure_skip_verify: bool,
}

impl TlsFiles {
    /// The TLS options with the files' contents; `None` when TLS was not asked for.
    fn read(self) -> Result<Option<TlsOptions>, Error> {
        let wanted = self.tls
            || self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.insecure_skip_verify;
        if !wanted {
            return Ok(None);
        }
        let client_cert = match (&self.cert_file, &self.key_file) {
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
        let ca = self
            .ca_file
            .map(|path| read("tls_ca_file", &path))
            .transpose()?;
        Ok(Some(TlsOptions {
            ca,
            client_cert,
            insecure_skip_verify: self.insecure_skip_verify,
        }))
    }
}

fn read(option: &'static str, path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::invalid(option, format!("cannot read {path:?}: {e}")))
}

/// The connection keywords alone, for the admin handle.
pub fn connection_options(
    py: Python<'_>,
    keywords: Option<&Bound<'_, PyDict>>,
) -> PyResult<ConnectionOptions> {
    let mut defaults = Writer::new(py);
    visit_connection(
        &mut defaults,
        &mut ConnectionOptions::default(),
        &mut TlsFiles::default(),
    )?;
    let mut reader = Reader::new("AdminCore", keywords, &defaults.dict)?;
    let mut options = ConnectionOptions::default();
    let mut tls = TlsFiles::default();
    visit_connection(&mut reader, &mut options, &mut tls)?;
    options.tls = tls.read()?;
    Ok(options)
}
