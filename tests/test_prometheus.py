"""The optional Prometheus exposition reports the clients' counters."""

from __future__ import annotations

import pytest

import ami

prometheus_client = pytest.importorskip("prometheus_client")

from ami.prometheus import register  # noqa: E402


def test_counters_are_exposed(nodes: list[str], queue: str) -> None:
    registry = prometheus_client.CollectorRegistry()
    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        register(producer, registry)
        producer.send_many([b"a", b"b", b"c"])
        producer.flush()
        confirmed = registry.get_sample_value(
            "ami_producer_messages_total", {"queue": queue, "outcome": "confirmed"}
        )
        assert confirmed == 3
        assert registry.get_sample_value("ami_producer_buffered_messages", {"queue": queue}) == 0
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=2) as consumer:
        register(consumer, registry)
        batch: list[ami.Message] = []
        while len(batch) < 3:
            batch += consumer.consume(10, timeout=5.0)
        consumer.ack_many(batch)
        consumer.flush()
        labels = {"queue": queue, "consumer": "c", "event": "acked"}
        assert registry.get_sample_value("ami_consumer_messages_total", labels) == 3
    text = prometheus_client.generate_latest(registry).decode()
    assert "ami_consumer_pending_acks" in text
