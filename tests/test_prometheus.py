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
        nacked = {**labels, "event": "nacked"}
        assert registry.get_sample_value("ami_consumer_messages_total", nacked) == 0
    text = prometheus_client.generate_latest(registry).decode()
    assert "ami_consumer_pending_acks" in text


def test_queue_gauges_follow_the_server(nodes: list[str], queue: str) -> None:
    from ami.prometheus import register_queue

    registry = prometheus_client.CollectorRegistry()
    register_queue(queue, registry=registry, nodes=nodes, shards=2, min_interval=0)

    def gauge(name: str) -> float | None:
        return registry.get_sample_value(name, {"queue": queue})

    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        producer.send_many([b"%d" % i for i in range(5)])
    assert gauge("ami_queue_up") == 1
    assert gauge("ami_queue_lag") == 5
    assert gauge("ami_queue_oldest_pending_age_seconds") == 0
    assert gauge("ami_queue_dead_letters") == 0
    with ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=2, claim_idle=0.2, max_deliveries=1
    ) as consumer:
        held: list[ami.Message] = []
        while len(held) < 5:
            held += consumer.consume(10, timeout=5.0)
        assert gauge("ami_queue_lag") == 0
        assert gauge("ami_queue_pending") == 5
        age = gauge("ami_queue_oldest_pending_age_seconds")
        assert age is not None and age >= 0
        while consumer.stats()["dead_lettered"] < 5:  # never acked: dead-lettered
            consumer.consume(10, timeout=0.2)
    assert gauge("ami_queue_dead_letters") == 5
    assert gauge("ami_queue_pending") == 0


def test_queue_gauges_are_read_at_most_once_per_interval(nodes: list[str], queue: str) -> None:
    from ami.prometheus import register_queue

    registry = prometheus_client.CollectorRegistry()
    register_queue(queue, registry=registry, nodes=nodes, shards=2, min_interval=3600)
    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        producer.send(b"a")
        producer.flush()
        assert registry.get_sample_value("ami_queue_length", {"queue": queue}) == 1
        producer.send(b"b")
    assert registry.get_sample_value("ami_queue_length", {"queue": queue}) == 1


def test_an_unreachable_queue_is_reported_down(queue: str) -> None:
    import socket

    from ami.prometheus import register_queue

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    registry = prometheus_client.CollectorRegistry()
    register_queue(queue, registry=registry, nodes=[dead], connect_timeout=0.3, min_interval=0)
    assert registry.get_sample_value("ami_queue_up", {"queue": queue}) == 0
    assert registry.get_sample_value("ami_queue_lag", {"queue": queue}) is None
    with pytest.raises(ami.ConfigError):
        register_queue("bad name", registry=registry, nodes=[dead])
