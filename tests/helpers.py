"""Small helpers shared by the tests."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

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


def check_acks_delete_exactly_the_acked_entries(
    nodes: list[str], client: RedisCluster, queue: str, *, trim_acked: bool
) -> None:
    """Acks from two consumers, below and above each other's unacked entries, delete
    exactly the acked entries; nothing unacked or undelivered leaves the stream."""
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send_many([b"%d" % i for i in range(2000)])
    [stream] = stream_names(queue, 1)
    every_id = [entry_id.decode() for entry_id, _ in client.xrange(stream)]
    options = {"nodes": nodes, "shards": 1, "prefetch_count": 50, "trim_acked": trim_acked}
    with (
        ami.Consumer(queue, consumer="slow", **options) as slow,
        ami.Consumer(queue, consumer="fast", **options) as fast,
    ):
        held = slow.consume(50, timeout=5.0)
        taken = fast.consume(300, timeout=5.0)
        acked = taken[::2] + held[1::2]
        random.Random(7).shuffle(acked)
        assert fast.ack_many(m for m in acked if m in taken) + slow.ack_many(
            m for m in acked if m in held
        ) == len(acked)
        assert fast.flush(5.0) == 0
        assert slow.flush(5.0) == 0
        left = {entry_id.decode() for entry_id, _ in client.xrange(stream)}
        assert left == set(every_id) - {m.id for m in acked}
    received = []
    for name in ("slow", "fast"):
        with ami.Consumer(queue, consumer=name, **options) as consumer:
            received += drain(consumer, 2000, idle=1.0)
    assert sorted(m.id for m in received) == sorted(set(every_id) - {m.id for m in acked})
    assert total_length(client, queue, 1) == 0
    assert total_pending(client, queue, 1) == 0


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Polls `condition` until it holds; fails the test naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def pending_with(client: RedisCluster, queue: str, shards: int, consumer: str) -> int:
    """Entries pending with `consumer`, over every shard."""
    group = f"qu_{queue}_group"
    return sum(
        row["pending"]
        for stream in stream_names(queue, shards)
        for row in client.xpending(stream, group)["consumers"]
        if row["name"] in (consumer, consumer.encode())
    )
