"""Consumers and producers carry on when the servers drop every client connection."""

from __future__ import annotations

from redis.cluster import RedisCluster

import ami
from helpers import drain, total_length


def drop_every_client(client: RedisCluster) -> None:
    """`CLIENT KILL` of every normal client on every node, this test's own included."""
    client.execute_command(
        "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no", target_nodes=RedisCluster.ALL_NODES
    )


def test_a_consumer_reads_on_after_its_connections_are_dropped(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    errors: list[ami.AmiError] = []
    with (
        ami.Producer(queue, nodes=nodes, shards=4) as producer,
        ami.Consumer(queue, consumer="c", nodes=nodes, shards=4, on_error=errors.append) as c,
    ):
        producer.send_many([b"before-%d" % i for i in range(1000)])
        assert producer.flush(10.0) == 0
        received = drain(c, 1000)
        assert c.flush(10.0) == 0
        for _ in range(3):
            drop_every_client(redis_client)
            producer.send_many([b"after-%d" % i for i in range(1000)])
            assert producer.flush(30.0) == 0
            received += drain(c, 1000)
            assert c.flush(30.0) == 0
    assert len(received) == 4000
    assert len({m.body for m in received}) == 2000
    assert total_length(redis_client, queue, 4) == 0
