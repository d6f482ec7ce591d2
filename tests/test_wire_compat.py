"""The Go ami's layout both ways: qu{i}_NAME streams, field m, group qu_NAME_group; headers
and keys change none of it."""

from __future__ import annotations

from redis.cluster import RedisCluster

import ami
from helpers import drain, stream_names, total_length

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SHARDS = 2


def test_entries_written_like_the_go_ami_are_consumed(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    group = f"qu_{queue}_group"
    streams = stream_names(queue, 10)
    for stream in streams:
        redis_client.xgroup_create(stream, group, id="$", mkstream=True)
    for i, stream in enumerate(streams):
        redis_client.xadd(stream, {"m": f"go-{i}"})

    with ami.Consumer(queue, consumer="py", nodes=nodes, shards=10) as consumer:
        received = drain(consumer, 10)

    assert sorted(m.text for m in received) == sorted(f"go-{i}" for i in range(10))
    assert {m.stream: m.text for m in received} == {s: f"go-{i}" for i, s in enumerate(streams)}
    assert total_length(redis_client, queue, 10) == 0


def test_entries_this_package_writes_read_back_as_field_m(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=10) as producer:
        producer.send_many([f"py-{i}".encode() for i in range(100)])

    entries = [e for s in stream_names(queue, 10) for e in redis_client.xrange(s)]
    assert len(entries) == 100
    assert all(list(fields) == [b"m"] for _, fields in entries)
    assert sorted(fields[b"m"] for _, fields in entries) == sorted(
        f"py-{i}".encode() for i in range(100)
    )
    groups = redis_client.xinfo_groups(stream_names(queue, 10)[0])
    assert [g["name"] for g in groups] == [f"qu_{queue}_group".encode()]


def test_a_go_style_reader_gets_the_bodies_of_messages_with_headers(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    """The Go ami reads XREADGROUP replies and takes field m only."""
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        for i in range(20):
            producer.send(f"go-{i}".encode(), headers={"traceparent": TRACEPARENT, "i": str(i)})
    group = f"qu_{queue}_group"
    bodies = []
    for stream in stream_names(queue, SHARDS):
        reply = redis_client.xreadgroup(group, "go", {stream: ">"}, count=100)
        for _, entries in reply:
            for entry_id, fields in entries:
                bodies.append(fields[b"m"])
                redis_client.xack(stream, group, entry_id)
                redis_client.xdel(stream, entry_id)
    assert sorted(bodies) == sorted(f"go-{i}".encode() for i in range(20))


def test_entries_of_other_writers_read_with_empty_or_their_headers(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    group = f"qu_{queue}_group"
    [stream] = stream_names(queue, 1)
    redis_client.xgroup_create(stream, group, id="$", mkstream=True)
    redis_client.xadd(stream, {"m": b"go"})  # what the Go ami writes
    redis_client.xadd(stream, {"h:first": b"1", "m": b"before", "other": b"x"})
    # A field given twice: the first counts, as for m.
    redis_client.execute_command("XADD", stream, "*", "m", "twice", "h:k", "one", "h:k", "two")
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        messages = drain(consumer, 3)
    assert [(m.body, m.headers) for m in messages] == [
        (b"go", {}),
        (b"before", {"first": b"1"}),
        (b"twice", {"k": b"one"}),
    ]


def test_go_written_entries_read_with_empty_headers_beside_headed_ones(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    group = f"qu_{queue}_group"
    streams = stream_names(queue, 10)
    for stream in streams:
        redis_client.xgroup_create(stream, group, id="$", mkstream=True)
    for i, stream in enumerate(streams):
        redis_client.xadd(stream, {"m": f"go-{i}"})
    with ami.Producer(queue, nodes=nodes, shards=10) as producer:
        producer.send_many(
            [b"py-%d" % i for i in range(10)], headers={"from": "py"}, keys=list("abcdefghij")
        )
    with ami.Consumer(queue, consumer="py", nodes=nodes, shards=10) as consumer:
        received = drain(consumer, 20)
    assert sorted((m.text, m.headers) for m in received) == sorted(
        [(f"go-{i}", {}) for i in range(10)] + [(f"py-{i}", {"from": b"py"}) for i in range(10)]
    )
    assert total_length(redis_client, queue, 10) == 0
