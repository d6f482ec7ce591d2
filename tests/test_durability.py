"""Producer outcomes: WAIT for replicas, failures reported after the deadline, shard guard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import SERVER
from redis.cluster import RedisCluster

import ami
from helpers import total_length


@pytest.fixture(scope="module")
def replicated_nodes() -> Iterator[list[str]]:
    with ami.LocalCluster(masters=3, replicas=3, server=SERVER) as cluster:
        yield cluster.nodes


def test_wait_replicas_confirms_batches_a_replica_has(
    replicated_nodes: list[str], queue: str
) -> None:
    with ami.Producer(queue, nodes=replicated_nodes, shards=3, wait_replicas=1) as producer:
        producer.send_many([b"%d" % i for i in range(10_000)])
        assert producer.flush(timeout=30) == 0
        assert producer.stats()["confirmed"] == 10_000


def test_batches_no_replica_confirms_fail_after_the_deadline(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    errors: list[ami.AmiError] = []
    producer = ami.Producer(
        queue,
        nodes=nodes,
        shards=1,
        wait_replicas=1,
        wait_timeout=0.05,
        delivery_timeout=0.5,
        on_error=errors.append,
    )
    producer.send_many([b"a", b"b", b"c"])
    with pytest.raises(ami.DeliveryError) as raised:
        producer.close()
    assert raised.value.failed == 3
    assert producer.stats()["failed"] == 3
    assert any(isinstance(e, ami.TransientError) and e.code == "NOREPLICAS" for e in errors)
    # The master has the entries (perhaps several times over): at least once, never silently.
    assert total_length(redis_client, queue, 1) >= 3


def test_clients_with_another_shard_count_are_refused(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=4):
        pass
    with pytest.raises(ami.ConfigError, match="shards=4") as raised:
        ami.Producer(queue, nodes=nodes, shards=5)
    assert raised.value.option == "shards"
    with pytest.raises(ami.ConfigError, match="shards=4"):
        ami.Consumer(queue, consumer="c", nodes=nodes, shards=10)
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=4):
        pass
    with ami.Producer(queue, nodes=nodes, shards=5, check_shards=False):
        pass
