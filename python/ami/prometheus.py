"""Prometheus exposition of producer and consumer counters.

Needs ``prometheus_client`` (``pip install "ami-streams[prometheus]"``)::

    from ami.prometheus import register
    register(producer)           # on prometheus_client's default registry
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from ami._async_consumer import AsyncConsumer
from ami._async_producer import AsyncProducer
from ami._consumer import Consumer
from ami._producer import Producer

__all__ = ["register"]

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
