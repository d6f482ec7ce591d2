"""Acks delete exactly what XACK+XDEL of the same ids would, the trimming script too:
never an entry that another client, an operator or the group's history still owns. And
an ack is never dropped."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import drain, pending_with, stream_names, wait_until

MAX_ID = "18446744073709551615-18446744073709551615"


def id_order(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def ids_in(client: RedisCluster, stream: str) -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(stream)]


def add(client: RedisCluster, stream: str, count: int) -> list[str]:
    return [client.xadd(stream, {"m": b"%d" % i}).decode() for i in range(count)]


# Each setup leaves entries in the stream and returns those the group will still deliver
# to the consumer under test; every other entry it left must survive that consumer's acks.


def written_before_the_group(client: RedisCluster, stream: str, group: str) -> list[str]:
    add(client, stream, 30)
    client.xgroup_create(stream, group, id="$")
    return []


def behind_setid_zero(client: RedisCluster, stream: str, group: str) -> list[str]:
    """An operator rewinds the group while one of its entries is pending elsewhere."""
    written_before_the_group(client, stream, group)
    add(client, stream, 1)
    client.xreadgroup(group, "holder", {stream: ">"}, count=1)
    client.xgroup_setid(stream, group, id="0")
    return ids_in(client, stream)


def acked_by_a_plain_member(client: RedisCluster, stream: str, group: str) -> list[str]:
    client.xgroup_create(stream, group, id="0", mkstream=True)
    add(client, stream, 10)
    client.xreadgroup(group, "plain", {stream: ">"}, count=10)
    client.xack(stream, group, *ids_in(client, stream))
    return []


def read_with_noack(client: RedisCluster, stream: str, group: str) -> list[str]:
    client.xgroup_create(stream, group, id="0", mkstream=True)
    add(client, stream, 10)
    client.xreadgroup(group, "noack", {stream: ">"}, count=10, noack=True)
    return []


def owned_by_a_deleted_consumer(client: RedisCluster, stream: str, group: str) -> list[str]:
    client.xgroup_create(stream, group, id="0", mkstream=True)
    add(client, stream, 10)
    client.xreadgroup(group, "gone", {stream: ">"}, count=10)
    client.xgroup_delconsumer(stream, group, "gone")
    return []


def in_a_recreated_group(client: RedisCluster, stream: str, group: str) -> list[str]:
    client.xgroup_create(stream, group, id="0", mkstream=True)
    add(client, stream, 10)
    client.xreadgroup(group, "before", {stream: ">"}, count=10)
    client.xgroup_destroy(stream, group)
    client.xgroup_create(stream, group, id="$")
    return []


@pytest.mark.parametrize(
    "setup",
    [
        written_before_the_group,
        behind_setid_zero,
        acked_by_a_plain_member,
        read_with_noack,
        owned_by_a_deleted_consumer,
        in_a_recreated_group,
    ],
)
def test_acks_never_delete_entries_they_did_not_ack(
    nodes: list[str],
    redis_client: RedisCluster,
    queue: str,
    setup: Callable[[RedisCluster, str, str], list[str]],
) -> None:
    [stream] = stream_names(queue, 1)
    deliverable = set(setup(redis_client, stream, f"qu_{queue}_group"))
    before = set(ids_in(redis_client, stream))
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send_many([b"new %d" % i for i in range(20)])
    new = set(ids_in(redis_client, stream)) - before
    # Small reads, so acks of early entries are written while later ones wait unread.
    with ami.Consumer(
        queue,
        consumer="c",
        nodes=nodes,
        shards=1,
        prefetch_count=5,
        claim_idle=None,
        max_deliveries=None,
        trim_acked=True,
    ) as consumer:
        acked = {m.id for m in drain(consumer, len(new | deliverable), idle=1.0)}
        assert consumer.flush(5.0) == 0
    assert acked == new | deliverable
    assert set(ids_in(redis_client, stream)) == (before | new) - acked


def test_the_largest_id_is_acked_and_deleted(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    [stream] = stream_names(queue, 1)
    redis_client.xgroup_create(stream, f"qu_{queue}_group", id="0", mkstream=True)
    redis_client.xadd(stream, {"m": b"last"}, id=MAX_ID)
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1, trim_acked=True) as consumer:
        [message] = consumer.consume(10, timeout=5.0)
        assert message.id == MAX_ID
        consumer.ack(message)
        assert consumer.flush(5.0) == 0
        assert consumer.stats()["ack_failed"] == 0
    assert redis_client.xlen(stream) == 0


@pytest.mark.parametrize("how", ["ack", "ack_many"])
def test_a_full_ack_buffer_waits_instead_of_dropping(
    nodes: list[str], redis_client: RedisCluster, queue: str, how: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send_many([b"%d" % i for i in range(40)])
    with ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=1, pending_buffer_size=3
    ) as consumer:
        messages = drain(consumer, 40, ack=False)
        assert len(messages) == 40
        if how == "ack":
            for message in messages:
                consumer.ack(message)
        else:
            assert consumer.ack_many(messages) == 40
        assert consumer.flush(5.0) == 0
        assert consumer.stats()["acked"] == 40
    [stream] = stream_names(queue, 1)
    assert redis_client.xpending(stream, f"qu_{queue}_group")["pending"] == 0
    assert redis_client.xlen(stream) == 0


def test_an_ack_that_cannot_be_queued_in_time_raises(
    nodes: list[str], queue: str, redis_client: RedisCluster
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send_many([b"%d" % i for i in range(5)])
    consumer = ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=1, pending_buffer_size=2, ack_timeout=0.2
    )
    [stream] = stream_names(queue, 1)
    master = redis_client.get_redis_connection(redis_client.get_node_from_key(stream))
    try:
        messages = drain(consumer, 5, ack=False)
        # The master holds the first two acks unanswered, so the buffer stays full.
        master.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
        with pytest.raises(ami.OperationTimeout, match="3 of 5 not queued"):
            consumer.ack_many(messages)
    finally:
        master.execute_command("CLIENT", "UNPAUSE")
        consumer.close(timeout=60.0)


def test_trimming_stops_at_another_consumers_entries_between_two_reads(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    [stream] = stream_names(queue, 1)
    group = f"qu_{queue}_group"
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    with ami.Consumer(
        queue, consumer="a", nodes=nodes, shards=1, prefetch_count=5, trim_acked=True
    ) as a:
        # a's prefetch holds at most two reads of 5 and a has read at least once, so b's
        # read lands between two of a's: the stream holds a's entries, b's, a's again.
        add(redis_client, stream, 20)
        wait_until(lambda: pending_with(redis_client, queue, 1, "a") > 0, "a's first read")
        [[_, read]] = redis_client.xreadgroup(group, "b", {stream: ">"}, count=5)
        others = [entry_id.decode() for entry_id, _ in read]
        mine = drain(a, 20 - len(others), ack=False, idle=2.0)
        ids = [id_order(m.id) for m in mine]
        assert others and min(ids) < id_order(others[0]) and max(ids) > id_order(others[-1])
        assert a.ack_many(mine) == len(mine)
        assert a.flush(5.0) == 0
    assert ids_in(redis_client, stream) == others
