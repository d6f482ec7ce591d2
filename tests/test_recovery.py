"""Messages left by dead consumers are recovered; poison messages end in a dead-letter stream."""

from __future__ import annotations

import time

from redis.cluster import RedisCluster

import ami
from helpers import drain, total_length, total_pending


def produce(nodes: list[str], queue: str, bodies: list[bytes], shards: int = 2) -> None:
    with ami.Producer(queue, nodes=nodes, shards=shards) as producer:
        producer.send_many(bodies)


def test_a_dead_consumers_messages_are_claimed_by_a_live_one(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [b"%d" % i for i in range(50)]
    produce(nodes, queue, bodies)
    with ami.Consumer(queue, consumer="dead", nodes=nodes, shards=2, claim_idle=None) as dead:
        held = drain(dead, 50, ack=False)
    assert all(m.deliveries == 1 for m in held)

    with ami.Consumer(queue, consumer="alive", nodes=nodes, shards=2, claim_idle=0.5) as alive:
        recovered = drain(alive, 50, idle=10.0)
        assert alive.stats()["claimed"] >= 50
    assert sorted(m.body for m in recovered) == sorted(bodies)
    assert all(m.deliveries == 2 for m in recovered)
    assert total_pending(redis_client, queue, 2) == 0
    assert total_length(redis_client, queue, 2) == 0


def test_touch_keeps_a_message_from_being_claimed(nodes: list[str], queue: str) -> None:
    produce(nodes, queue, [b"slow job"], shards=1)
    with (
        ami.Consumer(queue, consumer="slow", nodes=nodes, shards=1, claim_idle=None) as slow,
        ami.Consumer(queue, consumer="other", nodes=nodes, shards=1, claim_idle=0.4) as other,
    ):
        [job] = drain(slow, 1, ack=False)
        stolen = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert slow.touch(job) == 1
            stolen += other.consume(10, timeout=0.1)
        assert stolen == []
        slow.ack(job)


def test_a_poison_message_is_dead_lettered_and_the_rest_flow(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [b"good-%d" % i for i in range(20)] + [b"poison"]
    produce(nodes, queue, bodies, shards=1)
    errors: list[ami.AmiError] = []
    handled = []
    with ami.Consumer(
        queue,
        consumer="c",
        nodes=nodes,
        shards=1,
        claim_idle=0.2,
        max_deliveries=3,
        on_error=errors.append,
    ) as consumer:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and consumer.stats()["dead_lettered"] == 0:
            for message in consumer.consume(100, timeout=0.2):
                if message.body == b"poison":
                    continue  # the handler fails: never acked
                handled.append(message.body)
                consumer.ack(message)
        stats = consumer.stats()

    assert sorted(handled) == sorted(bodies[:-1])
    assert stats["dead_lettered"] == 1
    [(_, fields)] = redis_client.xrange(f"qu{{0}}:dlq:{queue}")
    assert fields[b"m"] == b"poison"
    assert fields[b"reason"] == b"max_deliveries"
    assert int(fields[b"deliveries"]) == 3  # as often as the application got it
    assert fields[b"stream"] == f"qu{{0}}_{queue}".encode()
    assert total_length(redis_client, queue, 1) == 0
    assert total_pending(redis_client, queue, 1) == 0
    dead = [e for e in errors if isinstance(e, ami.DeadLetteredError)]
    assert [e.id for e in dead] == [fields[b"id"].decode()]


def test_entries_deleted_while_pending_are_acked_off_and_reported(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    produce(nodes, queue, [b"a", b"b"], shards=1)
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        held = drain(consumer, 2, ack=False)
    gone = next(m for m in held if m.body == b"a")
    redis_client.xdel(gone.stream, gone.id)

    errors: list[ami.AmiError] = []
    with ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=1, on_error=errors.append
    ) as consumer:
        again = drain(consumer, 1)
        consumer.flush()
        assert consumer.stats()["dropped_invalid"] == 1
    assert [m.body for m in again] == [b"b"]
    assert [e.id for e in errors if isinstance(e, ami.InvalidEntryError)] == [gone.id]
    assert total_pending(redis_client, queue, 1) == 0


def test_claim_and_dead_letter_options_are_checked() -> None:
    for option, value in [("claim_idle", -1.0), ("claim_idle", 0.001), ("max_deliveries", 0)]:
        try:
            ami.Consumer("q", consumer="c", nodes=["127.0.0.1:1"], **{option: value})
        except ami.ConfigError as error:
            assert error.option == option
        else:
            raise AssertionError(f"{option}={value} accepted")
