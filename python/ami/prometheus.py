"""Prometheus exposition of producer and consumer counters, and of a queue's figures.

Needs ``prometheus_client`` (``pip install "ami-streams[prometheus]"``)::

    from ami.prometheus import register, register_queue
    register(producer)           # on prometheus_client's default registry
    register_queue("orders", nodes=["10.0.0.1:7001"])   # lag, pending age, dead letters
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from ami import _ami
from ami._async_consumer import AsyncConsumer
from ami._async_producer import AsyncProducer
from ami._consumer import Consumer
from ami._producer import Producer
from ami.exceptions import AmiError, ConfigError
from ami.ops import QueueStats, inspect

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from ami._options import ConnectionOptions

__all__ = ["register", "register_queue"]

Client = Producer | Consumer | AsyncProducer | AsyncConsumer

_PRODUCER_COUNTERS = ("accepted", "confirmed", "failed")
_PRODUCER_GAUGES = ("buffered_messages", "buffered_bytes", "in_flight_batches")
_CONSUMER_COUNTERS = (
    "delivered",
    "acked",
    "ack_failed",
    "claimed",
    "dead_lettered",
    "dropped_invalid",
    "nacked",
)


class _Stats(Protocol):
    name: str

    def stats(self) -> dict[str, int]: ...


class _ClientCollector:
    """Reads a client's `stats()` at each scrape; holds it weakly, so it can be freed."""

    def __init__(self, client: Client) -> None:
        self._client: weakref.ref[_Stats] = weakref.ref(client)
        self._is_producer = isinstance(client, Producer | AsyncProducer)
        self._labels = {"queue": client.name}
        if isinstance(client, Consumer | AsyncConsumer):
            self._labels["consumer"] = client.consumer

    def collect(self) -> Iterator[Metric]:
        client = self._client()
        if client is None:
            return
        try:
            stats = client.stats()
        except Exception:  # a client not started yet, or closed: nothing to report
            return
        if self._is_producer:
            yield from self._producer_metrics(stats)
        else:
            yield from self._consumer_metrics(stats)

    def _producer_metrics(self, stats: dict[str, int]) -> Iterator[Metric]:
        labels = list(self._labels)
        messages = CounterMetricFamily(
            "ami_producer_messages", "Messages by outcome.", labels=[*labels, "outcome"]
        )
        for outcome in _PRODUCER_COUNTERS:
            messages.add_metric([*self._labels.values(), outcome], stats[outcome])
        yield messages
        retries = CounterMetricFamily("ami_producer_retries", "Retried writes.", labels=labels)
        retries.add_metric(list(self._labels.values()), stats["retried"])
        yield retries
        for gauge in _PRODUCER_GAUGES:
            family = GaugeMetricFamily(
                f"ami_producer_{gauge}", gauge.replace("_", " "), labels=labels
            )
            family.add_metric(list(self._labels.values()), stats[gauge])
            yield family

    def _consumer_metrics(self, stats: dict[str, int]) -> Iterator[Metric]:
        labels = list(self._labels)
        messages = CounterMetricFamily(
            "ami_consumer_messages", "Messages by event.", labels=[*labels, "event"]
        )
        for event in _CONSUMER_COUNTERS:
            messages.add_metric([*self._labels.values(), event], stats[event])
        yield messages
        pending = GaugeMetricFamily(
            "ami_consumer_pending_acks", "Acks not yet written.", labels=labels
        )
        pending.add_metric(list(self._labels.values()), stats["pending_acks"])
        yield pending


def register(client: Client, registry: CollectorRegistry = REGISTRY) -> None:
    """Exposes `client.stats()` as Prometheus metrics, read at each scrape.

    Producers give ``ami_producer_messages_total{queue,outcome}``,
    ``ami_producer_retries_total`` and gauges of buffered messages, bytes and in-flight
    batches; consumers give ``ami_consumer_messages_total{queue,consumer,event}`` and
    ``ami_consumer_pending_acks``.

    Args:
        client: A producer or consumer, sync or async.
        registry: Where to register; default prometheus_client's global registry.
    """
    registry.register(_ClientCollector(client))


class _QueueCollector:
    """Reads a queue's figures with `ami.inspect` at a scrape, at most once per
    `min_interval`: scrapes in between get the figures of the last reading."""

    def __init__(
        self, name: str, shards: int | None, min_interval: float, options: ConnectionOptions
    ) -> None:
        self._name = name
        self._shards = shards
        self._min_interval = min_interval
        self._options = options
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._stats: QueueStats | None = None

    def describe(self) -> list[Metric]:
        # Registering must not read the server: the global registry would call
        # `collect` to learn the names.
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._current()
        labels = ["queue"]
        up = GaugeMetricFamily(
            "ami_queue_up", "1 if the last reading of the queue's figures worked.", labels=labels
        )
        up.add_metric([self._name], 0 if stats is None else 1)
        yield up
        if stats is None:
            return
        figures: list[tuple[str, str, float | None]] = [
            ("ami_queue_lag", "Entries not yet delivered to the group.", stats.lag),
            (
                "ami_queue_oldest_pending_age_seconds",
                "Age of the oldest entry delivered and not acked; 0 when none.",
                stats.oldest_pending_age or 0.0,
            ),
            ("ami_queue_dead_letters", "Entries in the dead-letter streams.", stats.dead_letters),
            ("ami_queue_pending", "Entries delivered and not acked.", stats.pending),
            ("ami_queue_length", "Entries in the shard streams.", stats.length),
        ]
        for metric, description, value in figures:
            if value is None:  # a lag Redis 6.2 does not let ami count
                continue
            family = GaugeMetricFamily(metric, description, labels=labels)
            family.add_metric([self._name], value)
            yield family

    def _current(self) -> QueueStats | None:
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._min_interval:
                self._read_at = now
                try:
                    self._stats = inspect(self._name, shards=self._shards, **self._options)
                except AmiError:
                    self._stats = None
            return self._stats


def register_queue(
    name: str,
    *,
    registry: CollectorRegistry = REGISTRY,
    shards: int | None = None,
    min_interval: float = 15.0,
    **options: Unpack[ConnectionOptions],
) -> None:
    """Exposes queue `name`'s lag, oldest pending age and dead letters as gauges.

    The figures come from the server (`ami.inspect`: a connection, then about six
    commands per shard), read at a scrape and at most once per `min_interval` seconds;
    scrapes in between get the last figures, so several scrapers or a short scrape
    interval add no load. Gauges, each labelled ``queue``: ``ami_queue_lag``,
    ``ami_queue_oldest_pending_age_seconds``, ``ami_queue_dead_letters``,
    ``ami_queue_pending``, ``ami_queue_length``, and ``ami_queue_up`` (0 when the
    last reading failed; the others are then left out, as ``ami_queue_lag`` is when
    Redis 6.2 does not let ami count it).

    Args:
        name: The queue name.
        registry: Where to register; default prometheus_client's global registry.
        shards: The queue's shard count; None takes the recorded one.
        min_interval: Fewest seconds between two readings.
        **options: How to connect, as for `ami.inspect` (`nodes`, TLS, ...).

    Raises:
        ConfigError: `name` is invalid or `min_interval` is negative.
    """
    if not min_interval >= 0:
        raise ConfigError(f"min_interval must be >= 0, got {min_interval!r}", "min_interval")
    _ami.validate_name(name)
    registry.register(_QueueCollector(name, shards, min_interval, options))
