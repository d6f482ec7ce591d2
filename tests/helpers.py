"""Small helpers shared by the tests."""

from __future__ import annotations

from redis.cluster import RedisCluster

import ami


def stream_names(queue: str, shards: int) -> list[str]:
    return [f"qu{{{i}}}_{queue}" for i in range(shards)]


def total_length(client: RedisCluster, queue: str, shards: int) -> int:
    return sum(client.xlen(s) for s in stream_names(queue, shards))


def total_pending(client: RedisCluster, queue: str, shards: int) -> int:
    group = f"qu_{queue}_group"
    return sum(client.xpending(s, group)["pending"] for s in stream_names(queue, shards))


def drain(
    consumer: ami.Consumer, expected: int, *, ack: bool = True, idle: float = 5.0
) -> list[ami.Message]:
    """Consumes until `expected` messages arrived or nothing came for `idle` seconds."""
    received: list[ami.Message] = []
    while len(received) < expected:
        batch = consumer.consume(10_000, timeout=idle)
        if not batch:
            break
        received.extend(batch)
        if ack:
            consumer.ack_many(batch)
    return received
