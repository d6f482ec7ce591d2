//! `_ami.ConsumerCore`: the consumer as `ami.Consumer` drives it.

use super::args::{optional_seconds, seconds};
use super::client_options::{consumer_defaults, consumer_options};
use super::errors::to_exception;
use super::message::MessagePy;
use super::stream_names::StreamNames;
use super::wait;
use crate::consumer::ack::Acked;
use crate::consumer::delivery::Delivery;
use crate::consumer::{Consumer, Fetch};
use crate::error::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::time::{Duration, Instant};

#[pyclass(frozen, name = "ConsumerCore", module = "ami._ami")]
pub struct ConsumerCorePy {
    consumer: Consumer,
    /// Interned once so every message of a shard shares its stream name object.
    streams: StreamNames,
    group: Py<PyString>,
}

#[pymethods]
impl ConsumerCorePy {
    #[new]
    #[pyo3(signature = (name, *, consumer, **options))]
    fn new(
        py: Python<'_>,
        name: String,
        consumer: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = consumer_options(py, name, consumer, options)?;
        let consumer = py.detach(|| Consumer::start(options))?;
        let streams = StreamNames::new(py, &consumer.streams());
        let group = PyString::intern(py, consumer.group()).unbind();
        Ok(Self {
            consumer,
            streams,
            group,
        })
    }

    /// Every keyword option with its default.
    #[staticmethod]
    fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        consumer_defaults(py)
    }

    /// Up to `max_messages` messages, waiting up to `timeout` (`None`: until one arrives
    /// or the consumer is stopped). An empty list means none arrived in time, or `finished`.
    #[pyo3(signature = (max_messages, timeout=None))]
    fn consume<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        if max_messages == 0 {
            return Err(Error::invalid("max_messages", "must be at least 1").into());
        }
        self.consumer.fault()?;
        let timeout = optional_seconds("timeout", timeout)?;
        let consumer = &self.consumer;
        let fetched = wait::until(py, timeout, |slice| {
            match consumer.fetch(max_messages, slice) {
                Fetch::Empty => None,
                other => Some(other),
            }
        })?;
        let deliveries = match fetched {
            Some(Fetch::Messages(deliveries)) => deliveries,
            _ => Vec::new(),
        };
        let shards = deliveries.iter().map(|d| d.shard + 1).max().unwrap_or(0);
        let streams = self.streams.up_to(py, shards, || consumer.streams());
        let messages = deliveries
            .into_iter()
            .map(|d| {
                let message = MessagePy {
                    body: PyBytes::new(py, &d.body).unbind(),
                    headers: d.headers,
                    id: PyString::new(py, &d.id).unbind(),
                    stream: streams[d.shard].clone_ref(py),
                    group: self.group.clone_ref(py),
                    shard: d.shard,
                    deliveries: d.deliveries,
                    place: d.place,
                };
                Bound::new(py, message)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, messages)
    }

    fn ack(&self, py: Python<'_>, message: &Bound<'_, MessagePy>) -> PyResult<()> {
        let id = self.ack_id(py, message.get())?;
        self.queue_acks(py, vec![id])
    }

    fn ack_many(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = self.ack_ids(py, messages)?;
        let count = ids.len();
        self.queue_acks(py, ids)?;
        Ok(count)
    }

    /// Queues acks from the front of `messages` while there is room; never blocks.
    fn try_ack_many(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.consumer.fault()?;
        let ids = self.ack_ids(py, messages)?;
        Ok(self.consumer.ack(&mut ids.into_iter())?)
    }

    /// Waits up to `timeout` for room in the ack buffer (GIL released).
    fn wait_for_ack_space(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds("timeout", timeout)?;
        let consumer = &self.consumer;
        py.detach(|| consumer.wait_for_ack_space(timeout));
        Ok(())
    }

    /// Puts messages that were fetched but never handed out back in front of the prefetch.
    fn requeue(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut deliveries = Vec::new();
        for message in messages.try_iter()? {
            let message = message?;
            let message = message.cast::<MessagePy>()?.get();
            let (shard, acked) = self.ack_id(py, message)?;
            let body = message.body.bind(py).as_bytes().to_vec();
            deliveries.push(Delivery {
                shard,
                id: acked.id,
                body,
                headers: message.headers.clone(),
                deliveries: message.deliveries,
                place: acked.place,
            });
        }
        self.consumer.requeue(deliveries);
        Ok(())
    }

    /// Resets the idle time of messages still being handled, so they are not claimed.
    fn touch(&self, py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids: Vec<(usize, String)> = self
            .ack_ids(py, messages)?
            .into_iter()
            .map(|(shard, acked)| (shard, acked.id))
            .collect();
        let consumer = &self.consumer;
        Ok(py.detach(|| consumer.touch(&ids))?)
    }

    /// Hands messages back for redelivery, at once or after `delay` seconds.
    #[pyo3(signature = (messages, delay=0.0))]
    fn nack(&self, py: Python<'_>, messages: &Bound<'_, PyAny>, delay: f64) -> PyResult<usize> {
        self.consumer.fault()?;
        let delay = seconds("delay", delay)?;
        let ids: Vec<(usize, String)> = self
            .ack_ids(py, messages)?
            .into_iter()
            .map(|(shard, acked)| (shard, acked.id))
            .collect();
        let consumer = &self.consumer;
        Ok(py.detach(|| consumer.nack(&ids, delay))?)
    }

    /// Waits up to `timeout` for queued acks to be written; returns how many remain.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let timeout = optional_seconds("timeout", timeout)?;
        let consumer = &self.consumer;
        let done = wait::until(py, timeout, |slice| {
            (consumer.flush_acks(slice) == 0).then_some(())
        })?;
        Ok(if done.is_some() {
            0
        } else {
            consumer.flush_acks(Duration::ZERO)
        })
    }

    fn stop(&self) {
        self.consumer.stop();
    }

    /// Stops reading and hands unread messages back to the group (GIL released).
    fn close(&self, py: Python<'_>) {
        let consumer = &self.consumer;
        py.detach(|| consumer.close());
    }

    fn wait_errors(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<Vec<Py<PyAny>>>> {
        let timeout = seconds("timeout", timeout)?;
        let notices = self.consumer.notices();
        let Some((errors, _dropped)) = py.detach(|| notices.wait(timeout)) else {
            return Ok(None);
        };
        Ok(Some(
            errors.into_iter().map(|e| to_exception(py, e)).collect(),
        ))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.consumer.counters();
        let stats = PyDict::new(py);
        stats.set_item("delivered", counters.delivered.get())?;
        stats.set_item("acked", counters.acked.get())?;
        stats.set_item("ack_failed", counters.ack_failed.get())?;
        stats.set_item("retried", counters.retried.get())?;
        stats.set_item("dropped_invalid", counters.dropped_invalid.get())?;
        stats.set_item("claimed", counters.claimed.get())?;
        stats.set_item("dead_lettered", counters.dead_lettered.get())?;
        stats.set_item("handed_back", counters.handed_back.get())?;
        stats.set_item("nacked", counters.nacked.get())?;
        stats.set_item("pending_acks", self.consumer.flush_acks(Duration::ZERO))?;
        Ok(stats)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.consumer.is_closed()
    }

    #[getter]
    fn stopped(&self) -> bool {
        self.consumer.is_stopped()
    }

    #[getter]
    fn streams(&self, py: Python<'_>) -> Vec<Py<PyString>> {
        let current = self.consumer.streams();
        let names = self.streams.up_to(py, current.len(), || current);
        names.iter().map(|s| s.clone_ref(py)).collect()
    }

    #[getter]
    fn group(&self, py: Python<'_>) -> Py<PyString> {
        self.group.clone_ref(py)
    }

    #[getter]
    fn prefetch_count(&self) -> usize {
        self.consumer.options().prefetch_count
    }

    #[getter]
    fn ack_timeout(&self) -> f64 {
        self.consumer.options().ack_timeout.as_secs_f64()
    }
}

impl ConsumerCorePy {
    /// The `(shard, id)` to ack for `message`, refusing messages of another queue.
    fn ack_id(&self, py: Python<'_>, message: &MessagePy) -> PyResult<(usize, Acked)> {
        let names = self
            .streams
            .up_to(py, message.shard + 1, || self.consumer.streams());
        let ours = names.get(message.shard).is_some_and(|stream| {
            stream.is(&message.stream) || same_text(stream.bind(py), message.stream.bind(py))
        });
        if !ours {
            return Err(
                Error::invalid("message", "it was not delivered by this consumer's queue").into(),
            );
        }
        let id = message.id.bind(py).to_str()?.to_owned();
        Ok((
            message.shard,
            Acked {
                id,
                place: message.place,
            },
        ))
    }

    fn ack_ids(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<(usize, Acked)>> {
        let mut ids = Vec::new();
        for message in messages.try_iter()? {
            let message = message?;
            let message = message.cast::<MessagePy>().map_err(|_| {
                PyErr::from(Error::invalid(
                    "messages",
                    "acks take Message objects from this consumer",
                ))
            })?;
            ids.push(self.ack_id(py, message.get())?);
        }
        Ok(ids)
    }

    /// Queues `ids`, waiting (GIL released, in slices so Ctrl-C works) while the ack
    /// buffer is full, for at most `ack_timeout`: an ack is queued or raised, never dropped.
    fn queue_acks(&self, py: Python<'_>, ids: Vec<(usize, Acked)>) -> PyResult<()> {
        self.consumer.fault()?;
        let total = ids.len();
        let mut rest = ids.into_iter().peekable();
        let consumer = &self.consumer;
        let patience = consumer.options().ack_timeout;
        let deadline = Instant::now() + patience;
        loop {
            consumer.ack(&mut rest)?;
            if rest.peek().is_none() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let unqueued = rest.count();
                return Err(PyErr::from(Error::Timeout {
                    what: format!(
                        "queueing acks ({unqueued} of {total} not queued: the ack buffer of \
                         pending_buffer_size stayed full; those messages stay pending)"
                    ),
                    seconds: patience.as_secs_f64(),
                }));
            }
            py.detach(|| consumer.wait_for_ack_space(left.min(Duration::from_millis(100))));
            py.check_signals()?;
        }
    }
}

fn same_text(a: &Bound<'_, PyString>, b: &Bound<'_, PyString>) -> bool {
    matches!((a.to_str(), b.to_str()), (Ok(a), Ok(b)) if a == b)
}
