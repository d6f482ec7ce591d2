"""Replies that need more than a retry: WRONGTYPE fails fast, NOGROUP is healed, a dead
seed is skipped."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import drain


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_wrongtype_fails_fast_naming_the_key(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    redis_client.set(f"qu{{0}}_{queue}", "not a stream")
    producer = ami.Producer(queue, nodes=nodes, shards=1, create_group=False)
    producer.send(b"x")
    started = time.monotonic()
    with pytest.raises(ami.DeliveryError) as raised:
        producer.close()
    assert time.monotonic() - started < 10.0, "WRONGTYPE is not retried until the deadline"
    assert raised.value.failed == 1
    assert "WRONGTYPE" in str(raised.value)
    assert f"qu{{0}}_{queue}" in str(raised.value)


def test_a_vanished_stream_and_group_are_recreated_and_reported(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    errors: list[ami.AmiError] = []
    with ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=1, block=0.1, on_error=errors.append
    ) as consumer:
        stream = f"qu{{0}}_{queue}"
        redis_client.delete(stream)
        wait_until(lambda: redis_client.exists(stream) == 1, "the group to be recreated")
        with ami.Producer(queue, nodes=nodes, shards=1, create_group=False) as producer:
            producer.send(b"after")
        received = drain(consumer, 1, idle=10.0)
    assert [m.body for m in received] == [b"after"]
    assert any(isinstance(e, ami.ServerError) and e.code == "NOGROUP" for e in errors)
    assert len(errors) < 50, "a missing group must not be retried in a hot loop"


def test_a_dead_first_seed_is_skipped(nodes: list[str], queue: str) -> None:
    seeds = ["127.0.0.1:1", *nodes]
    with ami.Producer(queue, nodes=seeds, shards=2) as producer:
        producer.send(b"x")
    with ami.Consumer(queue, consumer="c", nodes=seeds, shards=2) as consumer:
        assert [m.body for m in drain(consumer, 1)] == [b"x"]
