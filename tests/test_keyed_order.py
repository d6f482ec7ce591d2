"""Keyed messages: every message of a key lands on the key's shard, and one consumer
gets a key's messages in the order they were sent, whatever else is in flight."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import drain, stream_names


def reference_shard(key: bytes, shards: int) -> int:
    """The documented hash, written out independently: jump consistent hash (Lamping and
    Veach) of the key's 64-bit FNV-1a hash."""
    hashed = 0xCBF29CE484222325
    for byte in key:
        hashed = ((hashed ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    bucket, next_bucket = -1, 0
    while next_bucket < shards:
        bucket = next_bucket
        hashed = (hashed * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        next_bucket = int((bucket + 1) * (float(1 << 31) / float((hashed >> 33) + 1)))
    return bucket


def test_the_key_hash_is_the_documented_one() -> None:
    rng = random.Random(15)
    keys = [b"", b"a", "é".encode(), *(rng.randbytes(rng.randint(1, 40)) for _ in range(2000))]
    for shards in (1, 2, 3, 10, 16, 127):
        for key in keys:
            assert ami.shard_for_key(key, shards) == reference_shard(key, shards)
    assert ami.shard_for_key("user-1", 10) == ami.shard_for_key(b"user-1", 10)
    assert ami.shard_for_key(bytearray(b"user-1"), 10) == ami.shard_for_key(b"user-1", 10)
    # Fixed for good: these are in the README.
    assert [ami.shard_for_key(k, 10) for k in ("user-1", "user-2", "order:42")] == [9, 7, 3]
    with pytest.raises(ami.ConfigError):
        ami.shard_for_key("k", 0)
    with pytest.raises(ami.InvalidMessageError):
        ami.shard_for_key(1, 10)  # type: ignore[arg-type]


def test_growing_the_shard_count_moves_only_keys_to_the_new_shard() -> None:
    keys = [f"key-{i}".encode() for i in range(20_000)]
    moved = [k for k in keys if ami.shard_for_key(k, 10) != ami.shard_for_key(k, 11)]
    assert all(ami.shard_for_key(k, 11) == 10 for k in moved)
    assert 0.07 < len(moved) / len(keys) < 0.11


def _sequence(body: bytes) -> tuple[bytes, int]:
    key, _, number = body.rpartition(b":")
    return key, int(number)


def test_every_message_of_a_key_lands_on_its_shard_in_send_order(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    shards = 10
    keys = [f"user-{i}".encode() for i in range(300)]
    sent: dict[bytes, int] = defaultdict(int)
    rng = random.Random(1)
    with ami.Producer(queue, nodes=nodes, shards=shards, pipe_buffer_size=500) as producer:
        for round_ in range(20):
            batch_keys = rng.choices(keys, k=1000)
            bodies = []
            for key in batch_keys:
                bodies.append(b"%s:%d" % (key, sent[key]))
                sent[key] += 1
            if round_ % 2:
                producer.send_many(bodies, keys=batch_keys)
            else:
                for body, key in zip(bodies, batch_keys, strict=True):
                    producer.send(body, key=key.decode())
            producer.send_many([b"unkeyed"] * 100)  # in between, on any shard
    for shard, stream in enumerate(stream_names(queue, shards)):
        seen: dict[bytes, int] = {}
        for _, fields in redis_client.xrange(stream):
            if fields[b"m"] == b"unkeyed":
                continue
            key, number = _sequence(fields[b"m"])
            assert ami.shard_for_key(key, shards) == shard
            assert number == seen.get(key, -1) + 1, f"{key!r} out of order in {stream}"
            seen[key] = number
    unkeyed_streams = {
        stream
        for stream in stream_names(queue, shards)
        for _, fields in redis_client.xrange(stream)
        if fields[b"m"] == b"unkeyed"
    }
    assert len(unkeyed_streams) > 1  # still spread over the shards, batch by batch

    with ami.Consumer(queue, consumer="one", nodes=nodes, shards=shards) as consumer:
        received = drain(consumer, 20_000 + 2_000)
    last: dict[bytes, int] = {}
    for message in received:
        if message.body == b"unkeyed":
            continue
        key, number = _sequence(message.body)
        assert number == last.get(key, -1) + 1
        last[key] = number
    assert last == {key: count - 1 for key, count in sent.items()}


def test_a_stalled_master_holds_up_only_the_keys_it_holds(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    shards = 10
    streams = stream_names(queue, shards)
    masters = [redis_client.get_node_from_key(stream).name for stream in streams]
    stalled_key = "k-stalled"
    stalled_shard = ami.shard_for_key(stalled_key, shards)
    free_key = next(
        k
        for k in (f"k-{i}" for i in range(1000))
        if masters[ami.shard_for_key(k, shards)] != masters[stalled_shard]
    )
    free_stream = streams[ami.shard_for_key(free_key, shards)]
    master = redis_client.get_redis_connection(
        redis_client.get_node_from_key(streams[stalled_shard])
    )
    with ami.Producer(queue, nodes=nodes, shards=shards) as producer:
        producer.send(b"warm-up", key=stalled_key)
        assert producer.flush(5.0) == 0
        master.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        try:
            for i in range(200):
                producer.send(b"%s:%d" % (stalled_key.encode(), i), key=stalled_key)
                producer.send(b"%s:%d" % (free_key.encode(), i), key=free_key)
            # The free key's messages are written while the other master is paused.
            deadline = time.monotonic() + 1.0
            while redis_client.xlen(free_stream) < 200 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert redis_client.xlen(free_stream) == 200
            assert producer.flush(0.1) > 0
        finally:
            master.execute_command("CLIENT", "UNPAUSE")
        assert producer.flush(10.0) == 0
    bodies = [f[b"m"] for _, f in redis_client.xrange(streams[stalled_shard])]
    assert bodies == [b"warm-up"] + [b"%s:%d" % (stalled_key.encode(), i) for i in range(200)]


def test_keys_from_many_threads_stay_in_order(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    shards = 4
    with ami.Producer(queue, nodes=nodes, shards=shards, pipe_buffer_size=100) as producer:

        def send(thread: int) -> None:
            key = f"t{thread}"
            for i in range(2000):
                producer.send(b"%d:%d" % (thread, i), key=key)

        threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    order: dict[bytes, list[int]] = defaultdict(list)
    for stream in stream_names(queue, shards):
        for _, fields in redis_client.xrange(stream):
            thread, number = _sequence(fields[b"m"])
            order[thread].append(number)
    assert {t: n == list(range(2000)) for t, n in order.items()} == {
        str(t).encode(): True for t in range(4)
    }


@pytest.mark.parametrize("key", [1, 1.5, object(), ["k"], {"k": 1}])
def test_keys_that_are_not_str_or_bytes_are_refused(
    nodes: list[str], queue: str, key: object
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        with pytest.raises(ami.InvalidMessageError, match="a key must be str, bytes or bytearray"):
            producer.send(b"x", key=key)  # type: ignore[arg-type]
        with pytest.raises(ami.InvalidMessageError, match="a key must be str"):
            producer.send_many([b"x"], keys=[key])  # type: ignore[list-item]
        assert producer.stats()["accepted"] == 0


def test_keys_must_be_one_per_body(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        with pytest.raises(ami.InvalidMessageError, match="one key"):
            producer.send_many([b"a", b"b"], keys="ab")
        with pytest.raises(ami.ConfigError, match="1 items for 2 bodies"):
            producer.send_many([b"a", b"b"], keys=["k"])
        with pytest.raises(ami.InvalidMessageError):
            producer.send(b"x", key="\ud800")  # cannot be encoded
        assert producer.stats()["accepted"] == 0
        # An empty key and None are fine: None is no key.
        assert producer.send_many([b"a", b"b"], keys=["", None]) == 2
