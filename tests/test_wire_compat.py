"""The Go ami's layout both ways: qu{i}_NAME streams, field m, group qu_NAME_group."""

from __future__ import annotations

from redis.cluster import RedisCluster

import ami
from helpers import drain, stream_names, total_length


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
