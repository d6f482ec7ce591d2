"""Messages go in through a Producer and come out of a Consumer, exactly once."""

from __future__ import annotations

from collections import Counter

from redis.cluster import RedisCluster

import ami
from helpers import drain, total_length, total_pending


def test_100k_messages_across_10_shards_arrive_exactly_once(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [f"message-{i}".encode() for i in range(100_000)]
    with ami.Producer(queue, nodes=nodes, shards=10, pipe_buffer_size=1000) as producer:
        producer.send_many(bodies)

    with ami.Consumer(queue, consumer="alice", nodes=nodes, shards=10) as consumer:
        received = drain(consumer, len(bodies))

    counts = Counter(m.body for m in received)
    assert len(received) == len(bodies)
    assert set(counts) == set(bodies)
    assert max(counts.values()) == 1
    assert {m.stream for m in received} == {f"qu{{{i}}}_{queue}" for i in range(10)}
    assert total_length(redis_client, queue, 10) == 0
    assert total_pending(redis_client, queue, 10) == 0


def test_iteration_yields_messages_until_stopped(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=3) as producer:
        for i in range(50):
            producer.send(f"m{i}")

    seen = []
    with ami.Consumer(queue, consumer="it", nodes=nodes, shards=3, block=0.1) as consumer:
        for message in consumer:
            seen.append(message.text)
            consumer.ack(message)
            if len(seen) == 50:
                consumer.stop()
    assert sorted(seen) == sorted(f"m{i}" for i in range(50))


def test_messages_carry_their_stream_group_and_id(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send(b"one")
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        [message] = drain(consumer, 1, ack=False)
        stored = redis_client.xrange(f"qu{{0}}_{queue}")
        assert message.id == stored[0][0].decode()
        assert message.stream == f"qu{{0}}_{queue}"
        assert message.group == f"qu_{queue}_group"
        assert message.body == b"one"
        assert message.text == "one"
        assert "one" in repr(message)
        consumer.ack(message)
