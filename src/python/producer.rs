//! `_ami.ProducerCore`: the producer as `ami.Producer` drives it.

use super::args::{self, body, optional_seconds, seconds};
use super::client_options::{producer_defaults, producer_options};
use super::errors::to_exception;
use super::wait;
use crate::error::Error;
use crate::producer::outbox::Offer;
use crate::producer::Producer;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(frozen, name = "ProducerCore", module = "ami._ami")]
pub struct ProducerCorePy {
    producer: Producer,
}

#[pymethods]
impl ProducerCorePy {
    #[new]
    #[pyo3(signature = (name, **options))]
    fn new(py: Python<'_>, name: String, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options = producer_options(py, name, options)?;
        let producer = py.detach(|| Producer::start(options))?;
        Ok(Self { producer })
    }

    /// Every keyword option with its default.
    #[staticmethod]
    fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        producer_defaults(py)
    }

    fn send(&self, py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<()> {
        self.producer.fault()?;
        let body = args::body(body)?;
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

    #[getter]
    fn send_timeout(&self) -> Option<f64> {
        self.producer
            .options()
            .send_timeout
            .map(|t| t.as_secs_f64())
    }

    fn __len__(&self) -> usize {
        self.producer.unconfirmed().0
    }
}

impl ProducerCorePy {
    /// Waits (GIL released) for room, then offers `body` again, until `send_timeout`.
    fn send_when_room(&self, py: Python<'_>, body: &[u8]) -> PyResult<()> {
        let producer = &self.producer;
        let send_timeout = producer.options().send_timeout;
        let offered = wait::until(py, send_timeout, |slice| {
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
                seconds: send_timeout.unwrap_or_default().as_secs_f64(),
            })),
        }
    }
}

fn closed() -> PyErr {
    PyErr::from(Error::Closed { what: "producer" })
}
