//! `_ami.ProducerCore`: the producer as `ami.Producer` drives it.

use super::args::{self, body, optional_seconds, seconds, type_name};
use super::client_options::{producer_defaults, producer_options};
use super::errors::{invalid_header, invalid_message, to_exception};
use super::reports::DeliveryReportPy;
use super::stream_names::StreamNames;
use super::wait;
use crate::error::Error;
use crate::producer::outbox::Offer;
use crate::producer::Producer;
use crate::wire::headers::PackedHeaders;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyMapping, PyString};
use std::borrow::Cow;

#[pyclass(frozen, name = "ProducerCore", module = "ami._ami")]
pub struct ProducerCorePy {
    producer: Producer,
    streams: StreamNames,
}

/// A message as `send` takes it: its body, headers (maybe none) and key's shard.
struct Outgoing<'a, 'h> {
    body: Cow<'a, [u8]>,
    headers: Cow<'h, PackedHeaders>,
    shard: Option<usize>,
}

#[pymethods]
impl ProducerCorePy {
    #[new]
    #[pyo3(signature = (name, *, delivery_reports=false, **options))]
    fn new(
        py: Python<'_>,
        name: String,
        delivery_reports: bool,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = producer_options(py, name, options)?;
        let producer = py.detach(|| Producer::start(options, delivery_reports))?;
        let streams = StreamNames::new(py, &producer.streams());
        Ok(Self { producer, streams })
    }

    /// Every keyword option with its default.
    #[staticmethod]
    fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        producer_defaults(py)
    }

    #[pyo3(signature = (body, *, headers=None, key=None))]
    fn send(
        &self,
        py: Python<'_>,
        body: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.producer.fault()?;
        let body = args::body(body)?;
        if headers.is_none() && key.is_none() {
            // The plain message, as before headers and keys existed.
            self.producer.check_size(&body)?;
            return match self.producer.offer(&body) {
                Offer::Accepted => Ok(()),
                Offer::Closed => Err(closed()),
                Offer::Full => self.send_when_room(py, || self.producer.offer(&body)),
            };
        }
        args::with_headers(headers, |packed| {
            let message = self.outgoing(body, Cow::Borrowed(packed), key)?;
            self.offer_or_wait(py, &message)
        })
    }

    #[pyo3(signature = (messages, *, headers=None, keys=None))]
    fn send_many(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        keys: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        self.producer.fault()?;
        let mut sent = 0;
        if headers.is_none() && keys.is_none() {
            for message in messages.try_iter()? {
                let message = message?;
                let body = body(&message)?;
                self.producer.check_size(&body)?;
                match self.producer.offer(&body) {
                    Offer::Accepted => {}
                    Offer::Closed => return Err(closed()),
                    Offer::Full => self.send_when_room(py, || self.producer.offer(&body))?,
                }
                sent += 1;
            }
            return Ok(sent);
        }
        let mut extras = Extras::new(messages, headers, keys)?;
        for message in messages.try_iter()? {
            let message = message?;
            let (headers, key) = extras.next()?;
            let outgoing = self.outgoing(body(&message)?, headers, key.as_ref())?;
            self.offer_or_wait(py, &outgoing)?;
            sent += 1;
        }
        extras.finish()?;
        Ok(sent)
    }

    /// Queues `message` if there is room now; never blocks (for the asyncio wrapper).
    #[pyo3(signature = (message, *, headers=None, key=None))]
    fn try_send(
        &self,
        message: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let body = body(message)?;
        args::with_headers(headers, |packed| {
            let outgoing = self.outgoing(body, Cow::Borrowed(packed), key)?;
            self.try_offer(&outgoing)
        })
    }

    /// Queues messages from the front of `messages` while there is room; returns how many.
    #[pyo3(signature = (messages, *, headers=None, keys=None))]
    fn try_send_many(
        &self,
        messages: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        keys: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let mut extras = Extras::new(messages, headers, keys)?;
        let mut sent = 0;
        for message in messages.try_iter()? {
            let message = message?;
            let (headers, key) = extras.next()?;
            let outgoing = self.outgoing(body(&message)?, headers, key.as_ref())?;
            if !self.try_offer(&outgoing)? {
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

    /// Delivery reports for `on_delivery`, waiting up to `timeout` for one; `None` once the
    /// writer is done (or reports were not asked for). Their messages stay unconfirmed
    /// until `reports_handled`.
    fn wait_reports(
        &self,
        py: Python<'_>,
        timeout: f64,
    ) -> PyResult<Option<Vec<Py<DeliveryReportPy>>>> {
        let timeout = seconds("timeout", timeout)?;
        let producer = &self.producer;
        let Some(reports) = py.detach(|| producer.wait_reports(timeout)) else {
            return Ok(None);
        };
        reports
            .into_iter()
            .map(|report| {
                let stream = self
                    .streams
                    .up_to(py, report.shard + 1, || producer.streams())[report.shard]
                    .clone_ref(py);
                Py::new(py, DeliveryReportPy::new(py, report, stream))
            })
            .collect::<PyResult<_>>()
            .map(Some)
    }

    /// The reports `wait_reports` handed out were handled: their messages are settled.
    fn reports_handled(&self) {
        self.producer.reports_handled();
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
    /// A message with headers or a key, checked: types, names, and its size with them.
    fn outgoing<'a, 'h>(
        &self,
        body: Cow<'a, [u8]>,
        headers: Cow<'h, PackedHeaders>,
        key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outgoing<'a, 'h>> {
        let shard = match key.filter(|k| !k.is_none()) {
            Some(key) => Some(self.producer.shard_of(&args::key(key)?)),
            None => None,
        };
        self.producer.check_message_size(&body, &headers)?;
        Ok(Outgoing {
            body,
            headers,
            shard,
        })
    }

    fn try_offer(&self, message: &Outgoing<'_, '_>) -> PyResult<bool> {
        match self.offer_outgoing(message) {
            Offer::Accepted => Ok(true),
            Offer::Full => Ok(false),
            Offer::Closed => Err(closed()),
        }
    }

    fn offer_or_wait(&self, py: Python<'_>, message: &Outgoing<'_, '_>) -> PyResult<()> {
        match self.offer_outgoing(message) {
            Offer::Accepted => Ok(()),
            Offer::Closed => Err(closed()),
            Offer::Full => self.send_when_room(py, || self.offer_outgoing(message)),
        }
    }

    fn offer_outgoing(&self, message: &Outgoing<'_, '_>) -> Offer {
        self.producer
            .offer_message(&message.body, &message.headers, message.shard)
    }

    /// Waits (GIL released) for room, then offers again, until `send_timeout`.
    fn send_when_room(&self, py: Python<'_>, offer: impl Fn() -> Offer + Sync) -> PyResult<()> {
        let producer = &self.producer;
        let send_timeout = producer.options().send_timeout;
        let offered = wait::until(py, send_timeout, |slice| {
            producer.wait_for_space(slice);
            match offer() {
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

/// The headers and keys `send_many` takes beside its bodies: headers as one mapping for
/// every message or an iterable of one each (a mapping or `None`), keys an iterable of
/// one each (a key or `None`). Both walk in step with the bodies.
struct Extras<'py> {
    common: Option<PackedHeaders>,
    headers: Option<Bound<'py, PyIterator>>,
    keys: Option<Bound<'py, PyIterator>>,
}

impl<'py> Extras<'py> {
    fn new(
        bodies: &Bound<'py, PyAny>,
        headers: Option<&Bound<'py, PyAny>>,
        keys: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let headers = headers.filter(|h| !h.is_none());
        let keys = keys.filter(|k| !k.is_none());
        let mut extras = Self {
            common: None,
            headers: None,
            keys: None,
        };
        if let Some(headers) = headers {
            if headers.cast::<PyDict>().is_ok() || headers.cast::<PyMapping>().is_ok() {
                extras.common = Some(args::headers(Some(headers))?);
            } else if is_text(headers) {
                return Err(invalid_header(format!(
                    "headers must be a mapping, or one mapping (or None) per body, not {}",
                    type_name(headers)
                )));
            } else {
                same_length(bodies, headers, "headers")?;
                extras.headers = Some(headers.try_iter().map_err(|_| {
                    invalid_header(format!(
                        "headers must be a mapping, or one mapping (or None) per body, not {}",
                        type_name(headers)
                    ))
                })?);
            }
        }
        if let Some(keys) = keys {
            if is_text(keys) {
                return Err(invalid_message(format!(
                    "keys must hold one key (or None) per body, not be a {}; pass \
                     [key] * len(bodies) to give them all one key",
                    type_name(keys)
                )));
            }
            same_length(bodies, keys, "keys")?;
            extras.keys = Some(keys.try_iter().map_err(|_| {
                invalid_message(format!(
                    "keys must be an iterable of keys, one per body, not {}",
                    type_name(keys)
                ))
            })?);
        }
        Ok(extras)
    }

    /// The headers and key of the next body.
    fn next(&mut self) -> PyResult<(Cow<'_, PackedHeaders>, Option<Bound<'py, PyAny>>)> {
        let headers = match (&self.common, &mut self.headers) {
            (Some(common), _) => Cow::Borrowed(common),
            (None, Some(each)) => match each.next() {
                Some(headers) => Cow::Owned(args::headers(Some(&headers?))?),
                None => return Err(too_few("headers")),
            },
            (None, None) => Cow::Owned(PackedHeaders::default()),
        };
        let key = match &mut self.keys {
            Some(keys) => match keys.next() {
                Some(key) => Some(key?),
                None => return Err(too_few("keys")),
            },
            None => None,
        };
        Ok((headers, key))
    }

    /// Refuses headers or keys left over once the bodies ran out.
    fn finish(&mut self) -> PyResult<()> {
        for (name, iterator) in [("headers", &mut self.headers), ("keys", &mut self.keys)] {
            if let Some(iterator) = iterator {
                if iterator.next().is_some() {
                    return Err(Error::invalid(name, "has more items than there are bodies").into());
                }
            }
        }
        Ok(())
    }
}

fn is_text(value: &Bound<'_, PyAny>) -> bool {
    value.cast::<PyString>().is_ok()
        || value.cast::<pyo3::types::PyBytes>().is_ok()
        || value.cast::<pyo3::types::PyByteArray>().is_ok()
}

/// Refuses, before anything is queued, headers or keys whose length differs from the
/// bodies' when both have one.
fn same_length(
    bodies: &Bound<'_, PyAny>,
    extra: &Bound<'_, PyAny>,
    name: &'static str,
) -> PyResult<()> {
    if let (Ok(bodies), Ok(extras)) = (bodies.len(), extra.len()) {
        if bodies != extras {
            return Err(Error::invalid(
                name,
                format!("has {extras} items for {bodies} bodies: give one per body"),
            )
            .into());
        }
    }
    Ok(())
}

fn too_few(name: &'static str) -> PyErr {
    Error::invalid(name, "has fewer items than there are bodies").into()
}

fn closed() -> PyErr {
    PyErr::from(Error::Closed { what: "producer" })
}
