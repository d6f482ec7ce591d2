"""What a Consumer promises: own backlog first, shared groups, acks that delete."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import drain, total_length, total_pending


def produce(nodes: list[str], queue: str, bodies: list[bytes], shards: int) -> None:
    with ami.Producer(queue, nodes=nodes, shards=shards) as producer:
        producer.send_many(bodies)


def test_unacked_messages_come_back_first_to_a_restarted_consumer(
    nodes: list[str], queue: str
) -> None:
    produce(nodes, queue, [b"first-%d" % i for i in range(20)], shards=2)
    with ami.Consumer(queue, consumer="bob", nodes=nodes, shards=2) as consumer:
        unacked = drain(consumer, 20, ack=False)
    assert len(unacked) == 20

    produce(nodes, queue, [b"second-%d" % i for i in range(20)], shards=2)
    with ami.Consumer(queue, consumer="bob", nodes=nodes, shards=2, block=0.2) as consumer:
        again = drain(consumer, 40)
    assert len(again) == 40
    for shard in (0, 1):
        in_shard = [m.body for m in again if m.stream == f"qu{{{shard}}}_{queue}"]
        firsts = [b.startswith(b"first") for b in in_shard]
        assert firsts == sorted(firsts, reverse=True), "backlog must come before new entries"
    assert {m.id for m in again} >= {m.id for m in unacked}


def test_two_consumers_share_a_queue_without_duplicates(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [b"%d" % i for i in range(20_000)]
    produce(nodes, queue, bodies, shards=4)
    with (
        ami.Consumer(queue, consumer="one", nodes=nodes, shards=4, block=0.2) as one,
        ami.Consumer(queue, consumer="two", nodes=nodes, shards=4, block=0.2) as two,
    ):
        got: list[ami.Message] = []
        idle_rounds = 0
        while len(got) < len(bodies) and idle_rounds < 20:
            batch_one = one.consume(500, timeout=0.1)
            batch_two = two.consume(500, timeout=0.1)
            one.ack_many(batch_one)
            two.ack_many(batch_two)
            got += batch_one + batch_two
            idle_rounds = 0 if batch_one or batch_two else idle_rounds + 1
        assert one.stats()["delivered"] > 0
        assert two.stats()["delivered"] > 0
    assert sorted(m.body for m in got) == sorted(bodies)
    assert total_length(redis_client, queue, 4) == 0
    assert total_pending(redis_client, queue, 4) == 0


def test_close_writes_pending_acks(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    produce(nodes, queue, [b"x"] * 1000, shards=2)
    consumer = ami.Consumer(queue, consumer="c", nodes=nodes, shards=2, pipe_period=10.0)
    for message in drain(consumer, 1000, ack=False):
        consumer.ack(message)
    consumer.close()
    assert total_length(redis_client, queue, 2) == 0
    assert total_pending(redis_client, queue, 2) == 0
    assert consumer.stats()["acked"] == 1000


def test_use_after_close_raises(nodes: list[str], queue: str) -> None:
    produce(nodes, queue, [b"x"], shards=1)
    consumer = ami.Consumer(queue, consumer="c", nodes=nodes, shards=1)
    [message] = drain(consumer, 1, ack=False)
    consumer.close()
    consumer.close()
    with pytest.raises(ami.ClientClosedError):
        consumer.consume()
    with pytest.raises(ami.ClientClosedError):
        consumer.ack(message)
    assert list(consumer) == []


def test_acking_a_message_of_another_queue_is_refused(nodes: list[str], queue: str) -> None:
    other = queue + "-other"
    produce(nodes, other, [b"x"], shards=1)
    with (
        ami.Consumer(other, consumer="c", nodes=nodes, shards=1) as theirs,
        ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as ours,
    ):
        [message] = drain(theirs, 1, ack=False)
        with pytest.raises(ami.ConfigError):
            ours.ack(message)
        theirs.ack(message)
