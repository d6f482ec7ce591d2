//! `_ami.ProducerCore`: the producer as `ami.Producer` drives it.

use super::args::{body, count, optional_seconds, seconds, ConnectionArgs};
use super::errors::to_exception;
use super::wait;
use crate::error::Error;
use crate::options::ProducerOptions;
use crate::outbox::Offer;
use crate::producer::Producer;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Duration;

#[pyclass(frozen, name = "ProducerCore", module = "ami._ami")]
pub struct ProducerCorePy {
    producer: Producer,
    send_timeout: Option<Duration>,
}

#[pymethods]
impl ProducerCorePy {
    #[new]
    #[pyo3(signature = (
        name, *, nodes, shards, pending_buffer_size, pending_buffer_bytes, pipe_buffer_size,
        pipe_buffer_bytes, max_message_bytes, pipe_period, max_in_flight, delivery_timeout,
        send_timeout, create_group, check_shards, wait_replicas, wait_timeout, balance_masters,
        connect_timeout, response_timeout, username=None, password=None, tls=false, tls_ca_file=None,
        tls_cert_file=None, tls_key_file=None, tls_insecure_skip_verify=false,
    ))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // Python keyword arguments
    fn new(
        py: Python<'_>,
        name: String,
        nodes: Vec<String>,
        shards: i64,
        pending_buffer_size: i64,
        pending_buffer_bytes: i64,
        pipe_buffer_size: i64,
        pipe_buffer_bytes: i64,
        max_message_bytes: i64,
        pipe_period: f64,
        max_in_flight: i64,
        delivery_timeout: f64,
        send_timeout: Option<f64>,
        create_group: bool,
        check_shards: bool,
        wait_replicas: i64,
        wait_timeout: f64,
        balance_masters: bool,
        connect_timeout: f64,
        response_timeout: f64,
        username: Option<String>,
        password: Option<String>,
        tls: bool,
        tls_ca_file: Option<&str>,
        tls_cert_file: Option<&str>,
        tls_key_file: Option<&str>,
        tls_insecure_skip_verify: bool,
    ) -> PyResult<Self> {
        let options = (|| {
            Ok::<_, Error>(ProducerOptions {
                name,
                shards: count("shards", shards)?,
                pending_buffer_size: count("pending_buffer_size", pending_buffer_size)?,
                pending_buffer_bytes: count("pending_buffer_bytes", pending_buffer_bytes)?,
                pipe_buffer_size: count("pipe_buffer_size", pipe_buffer_size)?,
                pipe_buffer_bytes: count("pipe_buffer_bytes", pipe_buffer_bytes)?,
                max_message_bytes: count("max_message_bytes", max_message_bytes)?,
                pipe_period: seconds("pipe_period", pipe_period)?,
                max_in_flight: count("max_in_flight", max_in_flight)?,
                delivery_timeout: seconds("delivery_timeout", delivery_timeout)?,
                create_group,
                check_shards,
                wait_replicas: count("wait_replicas", wait_replicas)?,
                wait_timeout: seconds("wait_timeout", wait_timeout)?,
                balance_masters,
                connection: ConnectionArgs {
                    nodes,
                    connect_timeout,
                    response_timeout,
                    username,
                    password,
                    tls,
                    tls_ca_file,
                    tls_cert_file,
                    tls_key_file,
                    tls_insecure_skip_verify,
                }
                .into_options()?,
            })
        })()?;
        let send_timeout = optional_seconds("send_timeout", send_timeout)?;
        let producer = py.detach(|| Producer::start(options))?;
        Ok(Self {
            producer,
            send_timeout,
        })
    }

    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<()> {
        self.producer.fault()?;
        let body = body(message)?;
        self.producer.check_size(&body)?;
        match self.producer.offer(&body) {
            Offer::Accepted => Ok(()),
            Offer::Closed => Err(closed()),
            Offer::Full => self.send_when_room(py, &body),
        }
    }

    fn send_many(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.producer.fault()?;
        let mut sent = 0;
        for message in messages.try_iter()? {
            let message = message?;
            let body = body(&message)?;
            self.producer.check_size(&body)?;
            match self.producer.offer(&body) {
                Offer::Accepted => {}
                Offer::Closed => return Err(closed()),
                Offer::Full => self.send_when_room(py, &body)?,
            }
            sent += 1;
        }
        Ok(sent)
    }

    /// Queues `message` if there is room now; never blocks (for the asyncio wrapper).
    fn try_send(&self, message: &Bound<'_, PyAny>) -> PyResult<bool> {
        let body = body(message)?;
        self.producer.check_size(&body)?;
        match self.producer.offer(&body) {
            Offer::Accepted => Ok(true),
            Offer::Full => Ok(false),
            Offer::Closed => Err(closed()),
        }
    }

    /// Queues messages from the front of `messages` while there is room; returns how many.
    fn try_send_many(&self, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut sent = 0;
        for message in messages.try_iter()? {
            if !self.try_send(&message?)? {
                break;
            }
            sent += 1;
        }
        Ok(sent)
    }

    /// Waits up to `timeout` for buffer space (GIL released).
    fn wait_for_space(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds("timeout", timeout)?;
        let producer = &self.producer;
        py.detach(|| producer.wait_for_space(timeout));
        Ok(())
    }

    /// Sends the partial batch and waits; returns how many messages remain unconfirmed.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let timeout = optional_seconds("timeout", timeout)?;
        let settled = wait::until(py, timeout, |slice| match self.producer.flush(slice) {
            0 => Some(()),
            _ => None,
        })?;
        self.producer.fault()?;
        if let Some(error) = self.producer.take_undelivered() {
            return Err(error.into());
        }
        Ok(if settled.is_some() {
            0
        } else {
            self.producer.unconfirmed().0
        })
    }

    /// Refuses further messages; `flush` then waits for what was accepted.
    fn close(&self) {
        self.producer.close();
    }

    /// Background errors for `on_error`, waiting up to `timeout`; `None` once the writer is done.
    fn wait_errors(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<Vec<Py<PyAny>>>> {
        let timeout = seconds("timeout", timeout)?;
        let notices = self.producer.notices();
        let Some((errors, _dropped)) = py.detach(|| notices.wait(timeout)) else {
            return Ok(None);
        };
        Ok(Some(
            errors.into_iter().map(|e| to_exception(py, e)).collect(),
        ))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.producer.counters();
        let (messages, bytes) = self.producer.unconfirmed();
        let stats = PyDict::new(py);
        stats.set_item("accepted", counters.accepted.get())?;
        stats.set_item("confirmed", counters.confirmed.get())?;
        stats.set_item("failed", counters.failed.get())?;
        stats.set_item("retried", counters.retried.get())?;
        stats.set_item("in_flight_batches", counters.in_flight_batches.get())?;
        stats.set_item("buffered_messages", messages)?;
        stats.set_item("buffered_bytes", bytes)?;
        Ok(stats)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.producer.is_closed()
    }

    fn __len__(&self) -> usize {
        self.producer.unconfirmed().0
    }
}

impl ProducerCorePy {
    /// Waits (GIL released) for room, then offers `body` again, until `send_timeout`.
    fn send_when_room(&self, py: Python<'_>, body: &[u8]) -> PyResult<()> {
        let producer = &self.producer;
        let offered = wait::until(py, self.send_timeout, |slice| {
            producer.wait_for_space(slice);
            match producer.offer(body) {
                Offer::Full => None,
                other => Some(other),
            }
        })?;
        match offered {
            Some(Offer::Accepted) => Ok(()),
            Some(_) => Err(closed()),
            None => Err(PyErr::from(Error::Timeout {
                what: "send (buffer full)".to_owned(),
                seconds: self.send_timeout.unwrap_or_default().as_secs_f64(),
            })),
        }
    }
}

fn closed() -> PyErr {
    PyErr::from(Error::Closed { what: "producer" })
}
