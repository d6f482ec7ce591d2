"""What a Producer promises: close() writes everything, len() and flush() tell the truth."""

from __future__ import annotations

import threading

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import stream_names, total_length


def test_close_returns_only_when_all_200k_messages_are_in_redis(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    producer = ami.Producer(queue, nodes=nodes, shards=10)
    for i in range(200_000):
        producer.send(b"%d" % i)
    producer.close()
    assert total_length(redis_client, queue, 10) == 200_000
    assert producer.stats()["confirmed"] == 200_000


def test_flush_waits_and_reports_nothing_left(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        producer.send_many([b"a", b"b", b"c"])
        assert producer.flush(timeout=10) == 0
        assert len(producer) == 0
        assert total_length(redis_client, queue, 2) == 3


def test_batches_rotate_over_the_shards(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=4, pipe_buffer_size=10) as producer:
        producer.send_many([b"x"] * 400)
    lengths = [redis_client.xlen(s) for s in stream_names(queue, 4)]
    assert sum(lengths) == 400
    assert all(n > 0 for n in lengths)


def test_send_is_safe_from_several_threads(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=4) as producer:

        def send_part(part: int) -> None:
            for i in range(10_000):
                producer.send(b"%d-%d" % (part, i))

        threads = [threading.Thread(target=send_part, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert total_length(redis_client, queue, 4) == 40_000


def test_a_full_buffer_blocks_send_until_there_is_room(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(
        queue, nodes=nodes, shards=2, pending_buffer_size=100, pipe_buffer_size=50
    ) as producer:
        for i in range(5_000):
            producer.send(b"%d" % i)
            assert len(producer) <= 100
    assert total_length(redis_client, queue, 2) == 5_000


def test_use_after_close_raises(nodes: list[str], queue: str) -> None:
    producer = ami.Producer(queue, nodes=nodes, shards=1)
    producer.close()
    producer.close()
    assert producer.closed
    with pytest.raises(ami.ClientClosedError):
        producer.send(b"late")
    with pytest.raises(ami.ClientClosedError):
        producer.send_many([b"late"])
    with pytest.raises(ami.ClientClosedError), producer:
        pass


def test_stats_count_what_happened(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send_many([b"a"] * 10)
        producer.flush()
        stats = producer.stats()
    assert stats["accepted"] == 10
    assert stats["confirmed"] == 10
    assert stats["failed"] == 0
    assert stats["buffered_messages"] == 0
