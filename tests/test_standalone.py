"""The same API against a standalone server (no cluster mode): every shard on one node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from conftest import SERVER

import ami
from helpers import drain


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    with ami.LocalCluster(masters=1, cluster=False, server=SERVER) as server:
        yield server.nodes[0]


def lengths(node: str, queue: str, shards: int) -> tuple[int, int]:
    host, port = node.rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port))
    try:
        streams = [f"qu{{{i}}}_{queue}" for i in range(shards)]
        length = sum(client.xlen(s) for s in streams)
        pending = sum(client.xpending(s, f"qu_{queue}_group")["pending"] for s in streams)
        return length, pending
    finally:
        client.close()


def test_round_trip_on_a_standalone_server(standalone: str, queue: str) -> None:
    bodies = [b"%d" % i for i in range(5_000)]
    with ami.Producer(queue, nodes=f"redis://{standalone}", shards=4) as producer:
        producer.send_many(bodies)
    with ami.Consumer(queue, consumer="c", nodes=[standalone], shards=4) as consumer:
        received = drain(consumer, len(bodies))
    assert sorted(m.body for m in received) == sorted(bodies)
    assert lengths(standalone, queue, 4) == (0, 0)


def test_backlog_comes_back_first_on_a_standalone_server(standalone: str, queue: str) -> None:
    with ami.Producer(queue, nodes=[standalone], shards=2) as producer:
        producer.send_many([b"a", b"b"])
    with ami.Consumer(queue, consumer="c", nodes=[standalone], shards=2) as consumer:
        first = drain(consumer, 2, ack=False)
    assert lengths(standalone, queue, 2) == (2, 2)
    with ami.Consumer(queue, consumer="c", nodes=[standalone], shards=2) as consumer:
        again = drain(consumer, 2)
    assert sorted(m.id for m in again) == sorted(m.id for m in first)
    assert lengths(standalone, queue, 2) == (0, 0)


def test_nack_on_a_standalone_server(standalone: str, queue: str) -> None:
    with ami.Producer(queue, nodes=[standalone], shards=2) as producer:
        producer.send(b"again")
    with ami.Consumer(queue, consumer="c", nodes=[standalone], shards=2) as consumer:
        [first] = drain(consumer, 1, ack=False)
        assert consumer.nack(first) is True
        [again] = drain(consumer, 1, idle=5.0)
        assert (again.id, again.deliveries) == (first.id, 2)
        assert consumer.flush(5.0) == 0
    assert lengths(standalone, queue, 2) == (0, 0)
