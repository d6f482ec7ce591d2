"""Where batches go: among shards by default, among masters with `balance_masters`."""

from __future__ import annotations

from redis.cluster import RedisCluster

import ami
from helpers import stream_names


def messages_per_master(client: RedisCluster, queue: str, shards: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stream in stream_names(queue, shards):
        master = client.get_node_from_key(stream).name
        counts[master] = counts.get(master, 0) + client.xlen(stream)
    return counts


def produce(nodes: list[str], queue: str, *, balance_masters: bool) -> None:
    with ami.Producer(
        queue, nodes=nodes, shards=10, pipe_buffer_size=100, balance_masters=balance_masters
    ) as producer:
        producer.send_many([b"x"] * 30_000)


def test_by_default_every_shard_gets_an_equal_share(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    produce(nodes, queue, balance_masters=False)
    lengths = [redis_client.xlen(stream) for stream in stream_names(queue, 10)]
    assert sum(lengths) == 30_000
    assert max(lengths) <= 1.1 * min(lengths), lengths


def test_balance_masters_gives_every_master_an_equal_share(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    produce(nodes, queue, balance_masters=True)
    counts = messages_per_master(redis_client, queue, 10)
    assert sum(counts.values()) == 30_000
    assert max(counts.values()) <= 1.1 * min(counts.values()), counts
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=10) as consumer:
        received = 0
        while batch := consumer.consume(10_000, timeout=2.0):
            consumer.ack_many(batch)
            received += len(batch)
    assert received == 30_000
