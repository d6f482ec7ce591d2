"""`nack`: a message handed back is delivered again, to this or another consumer of the
group, counting a delivery, and dead-lettered after `max_deliveries`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import drain, pending_with, total_length, total_pending

SHARDS = 2
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def _send(nodes: list[str], queue: str, bodies: list[bytes]) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many(bodies)


def _consumer(nodes: list[str], queue: str, name: str, **options: object) -> ami.Consumer:
    return ami.Consumer(queue, consumer=name, nodes=nodes, shards=SHARDS, **options)  # type: ignore[arg-type]


def _owner(client: RedisCluster, queue: str, message: ami.Message) -> str | None:
    rows = client.xpending_range(message.stream, f"qu_{queue}_group", message.id, message.id, 1)
    if not rows:
        return None
    name = rows[0]["consumer"]
    return name.decode() if isinstance(name, bytes) else str(name)


def test_a_nacked_message_comes_back_at_once_with_one_more_delivery(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"job"])
    # The default claim_idle (60 s): only the nack can bring it back within the test.
    with _consumer(nodes, queue, "alice") as consumer:
        [first] = drain(consumer, 1, ack=False)
        assert first.deliveries == 1
        assert consumer.nack(first) is True
        [again] = drain(consumer, 1, ack=False, idle=5.0)
        assert (again.id, again.body, again.deliveries) == (first.id, b"job", 2)
        consumer.ack(again)
        assert consumer.flush(5.0) == 0
        assert consumer.stats()["nacked"] == 1
    assert total_length(redis_client, queue, SHARDS) == 0
    assert total_pending(redis_client, queue, SHARDS) == 0


def test_a_nacked_message_reaches_another_consumer(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"a", b"b", b"c"])
    with _consumer(nodes, queue, "alice") as alice:
        taken = drain(alice, 3, ack=False)
        alice.stop()  # alice's claimer is stopped: only bob can take them
        assert alice.nack_many(taken) == 3
        with _consumer(nodes, queue, "bob", claim_idle=0.4) as bob:
            again = drain(bob, 3, ack=False, idle=5.0)
            assert sorted((m.id, m.body, m.deliveries) for m in again) == sorted(
                (m.id, m.body, 2) for m in taken
            )
            assert all(_owner(redis_client, queue, m) == "bob" for m in again)
            bob.ack_many(again)
    assert total_pending(redis_client, queue, SHARDS) == 0


def test_nack_after_ack_changes_nothing(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"done"])
    with _consumer(nodes, queue, "alice") as consumer:
        [message] = drain(consumer, 1, ack=False)
        consumer.ack(message)
        assert consumer.flush(5.0) == 0
        assert consumer.nack(message) is False
        assert consumer.consume(10, timeout=0.5) == []
        assert consumer.stats()["nacked"] == 0
    assert total_length(redis_client, queue, SHARDS) == 0


def test_nack_of_a_message_another_consumer_claimed_leaves_it_there(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"slow"])
    with _consumer(nodes, queue, "alice") as alice:
        [held] = drain(alice, 1, ack=False)
        with _consumer(nodes, queue, "bob", claim_idle=0.2) as bob:
            [claimed] = drain(bob, 1, ack=False, idle=5.0)
            assert claimed.id == held.id
            assert alice.nack(held) is False
            assert _owner(redis_client, queue, held) == "bob"
            bob.ack(claimed)
            assert bob.flush(5.0) == 0
    assert total_pending(redis_client, queue, SHARDS) == 0


def test_nacked_again_and_again_it_is_dead_lettered(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"poison"])
    errors: list[Exception] = []
    seen = []
    with _consumer(nodes, queue, "alice", max_deliveries=3, on_error=errors.append) as consumer:
        while len(seen) < 3:
            batch = consumer.consume(10, timeout=5.0)
            assert batch, f"redelivery {len(seen) + 1} did not come"
            seen += batch
            assert consumer.nack_many(batch) == len(batch)
        assert consumer.consume(10, timeout=1.0) == []
        assert consumer.stats()["dead_lettered"] == 1
    assert [m.deliveries for m in seen] == [1, 2, 3]
    assert any(isinstance(e, ami.DeadLetteredError) for e in errors)
    [(_, fields)] = redis_client.xrange(f"qu{{{_shard(seen[0])}}}:dlq:{queue}")
    assert fields[b"m"] == b"poison"
    assert fields[b"deliveries"] == b"3"
    assert total_pending(redis_client, queue, SHARDS) == 0


def _shard(message: ami.Message) -> int:
    return int(message.stream[3 : message.stream.index("}")])


def test_a_consumer_killed_after_nack_loses_nothing(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"%d" % i for i in range(20)])
    child = textwrap.dedent(
        f"""
        import os, ami
        c = ami.Consumer({queue!r}, consumer="doomed", nodes={nodes!r}, shards={SHARDS})
        got = []
        while len(got) < 20:
            got += c.consume(100, timeout=5.0)
        c.stop()
        assert c.nack_many(got) == 20
        os._exit(0)  # killed: no close, nothing handed back but by the nack
        """
    )
    subprocess.run(
        [sys.executable, "-c", child],
        check=True,
        timeout=60,
        env={"PYTHONPATH": str(PYTHON_DIR), "PATH": "/usr/bin:/bin"},
    )
    assert pending_with(redis_client, queue, SHARDS, "doomed") == 20
    with _consumer(nodes, queue, "heir", claim_idle=2.0) as heir:
        again = drain(heir, 20, idle=5.0)
        assert heir.flush(5.0) == 0
    assert sorted(m.body for m in again) == sorted(b"%d" % i for i in range(20))
    assert {m.deliveries for m in again} == {2}
    assert total_pending(redis_client, queue, SHARDS) == 0


def test_a_delayed_nack_holds_the_message_until_the_delay_ends(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, [b"later"])
    with _consumer(nodes, queue, "alice", claim_idle=10.0) as consumer:
        [first] = drain(consumer, 1, ack=False)
        assert consumer.nack(first, delay=3.0) is True
        assert consumer.consume(10, timeout=0.5) == []
        [again] = drain(consumer, 1, idle=5.0)
        assert (again.id, again.deliveries) == (first.id, 2)
        assert consumer.flush(5.0) == 0
    assert total_pending(redis_client, queue, SHARDS) == 0


def test_nack_refuses_what_it_cannot_do(nodes: list[str], queue: str) -> None:
    _send(nodes, queue, [b"x"])
    with _consumer(nodes, queue, "alice", claim_idle=1.0) as consumer:
        [message] = drain(consumer, 1, ack=False)
        with pytest.raises(ami.ConfigError, match="delay"):
            consumer.nack(message, delay=-1)
        with pytest.raises(ami.ConfigError, match="claim_idle"):
            consumer.nack(message, delay=2.0)
        with pytest.raises(ami.ConfigError):
            consumer.nack_many(["not a message"])  # type: ignore[list-item]
        with (
            _consumer(nodes, f"{queue}x", "alice") as other,
            pytest.raises(ami.ConfigError, match="this consumer's queue"),
        ):
            other.nack(message)
        consumer.ack(message)
    with pytest.raises(ami.ClientClosedError):
        consumer.nack(message)
    with (
        _consumer(nodes, queue, "bob", claim_idle=None) as never_claims,
        pytest.raises(ami.ConfigError, match="claim_idle"),
    ):
        never_claims.nack(message)


def test_async_nack(nodes: list[str], redis_client: RedisCluster, queue: str) -> None:
    _send(nodes, queue, [b"async"])

    async def main() -> list[int]:
        counts = []
        async with ami.AsyncConsumer(queue, consumer="a", nodes=nodes, shards=SHARDS) as consumer:
            async for message in consumer:
                counts.append(message.deliveries)
                if message.deliveries == 1:
                    assert await consumer.nack(message) is True
                else:
                    await consumer.ack(message)
                    consumer.stop()
        return counts

    assert asyncio.run(main()) == [1, 2]
    assert total_pending(redis_client, queue, SHARDS) == 0
