"""`ami.inspect` against a real local cluster, through the core's admin handle."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from conftest import server_binary
from redis.cluster import RedisCluster

import ami
from ami import _ami
from ami.cluster import pick_ports
from ami.exceptions import ClusterError
from ami.ops import ConsumerStats, QueueStats, inspect
from helpers import drain, stream_names, total_length, total_pending

SHARDS = 3


def _produce(nodes: list[str], queue: str, bodies: list[bytes], shards: int = SHARDS) -> None:
    with ami.Producer(queue, nodes=nodes, shards=shards) as producer:
        producer.send_many(bodies)


def _dead_address() -> str:
    """A local address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# --------------------------------------------------------------------------- inspect


def test_missing_queue_gives_zeros(nodes: list[str], queue: str) -> None:
    stats = inspect(queue, nodes=nodes, shards=SHARDS)

    assert stats.name == queue
    assert stats.group == f"qu_{queue}_group"
    assert (stats.length, stats.pending, stats.lag, stats.dead_letters) == (0, 0, 0, 0)
    assert stats.consumers == []
    assert stats.oldest_pending_age is None
    assert [shard.stream for shard in stats.shards] == stream_names(queue, SHARDS)
    for shard in stats.shards:
        assert (shard.length, shard.pending, shard.lag) == (0, 0, 0)
        assert shard.last_delivered_id is None
        assert shard.oldest_pending_age is None


def test_counts_after_producing_consuming_and_acking(
    nodes: list[str], queue: str, redis_client: RedisCluster
) -> None:
    _produce(nodes, queue, [b"m%d" % i for i in range(60)])
    with ami.Consumer(queue, consumer="alice", nodes=nodes, shards=SHARDS) as consumer:
        received = drain(consumer, 60, ack=False)
        consumer.ack_many(received[:20])
        consumer.flush()
    _produce(nodes, queue, [b"late%d" % i for i in range(7)])

    stats = inspect(queue, nodes=nodes, shards=SHARDS)

    assert len(received) == 60
    assert stats.length == 47 == total_length(redis_client, queue, SHARDS)
    assert stats.pending == 40 == total_pending(redis_client, queue, SHARDS)
    assert stats.lag == 7
    assert [(c.name, c.pending) for c in stats.consumers] == [("alice", 40)]
    assert stats.consumers[0].idle >= 0
    assert stats.oldest_pending_age is not None and stats.oldest_pending_age >= 0
    assert sum(shard.length for shard in stats.shards) == stats.length
    assert all(shard.last_delivered_id is not None for shard in stats.shards)


def test_consumers_are_summed_over_shards(nodes: list[str], queue: str) -> None:
    for name, count in (("bob", 30), ("carol", 10)):
        _produce(nodes, queue, [name.encode()] * count)
        with ami.Consumer(queue, consumer=name, nodes=nodes, shards=SHARDS) as consumer:
            assert len(drain(consumer, count, ack=False)) == count

    stats = inspect(queue, nodes=nodes, shards=SHARDS)

    assert [(c.name, c.pending) for c in stats.consumers] == [("bob", 30), ("carol", 10)]
    for consumer in stats.consumers:
        per_shard = [
            c for shard in stats.shards for c in shard.consumers if c.name == consumer.name
        ]
        assert consumer.pending == sum(c.pending for c in per_shard)
        assert consumer.idle == min(c.idle for c in per_shard)


def test_lag_is_counted_when_the_server_cannot_tell(
    nodes: list[str], queue: str, redis_client: RedisCluster
) -> None:
    _produce(nodes, queue, [b"m%d" % i for i in range(5)], shards=1)
    stream = stream_names(queue, 1)[0]
    newest = redis_client.xrevrange(stream, count=1)[0][0]
    # Deleting an undelivered entry makes Redis 7 report the lag as nil.
    redis_client.xdel(stream, newest)

    stats = inspect(queue, nodes=nodes, shards=1)

    assert stats.lag == stats.shards[0].lag == 4


def test_dead_letters_are_counted(nodes: list[str], queue: str, redis_client: RedisCluster) -> None:
    dead_letters = _ami.dead_letter_stream_name(queue, 1)
    redis_client.xadd(dead_letters, {"m": b"bad"})
    redis_client.xadd(dead_letters, {"m": b"worse"})

    stats = inspect(queue, nodes=nodes, shards=SHARDS)

    assert stats.dead_letters == 2
    assert [shard.dead_letters for shard in stats.shards] == [0, 2, 0]


def test_to_dict_is_json(nodes: list[str], queue: str) -> None:
    _produce(nodes, queue, [b"a", b"b"])
    stats = inspect(queue, nodes=nodes, shards=SHARDS)

    data = json.loads(json.dumps(stats.to_dict()))

    assert data["name"] == queue
    assert data["length"] == 2
    assert len(data["shards"]) == SHARDS
    assert set(data["shards"][0]) >= {"stream", "length", "pending", "lag", "consumers"}


def test_stats_are_frozen() -> None:
    stats = QueueStats("q", "qu_q_group", [], 0, 0, 0, 0, [ConsumerStats("c", 0, 0.0)])
    with pytest.raises(AttributeError):
        stats.length = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [({"name": "a b"}, "name"), ({"name": ""}, "name"), ({"shards": 0}, "shards")],
)
def test_invalid_arguments_raise_config_error(kwargs: dict[str, object], option: str) -> None:
    arguments: dict[str, object] = {"name": "ok", "nodes": "127.0.0.1:1", "shards": 2, **kwargs}
    with pytest.raises(ami.ConfigError) as info:
        inspect(**arguments)  # type: ignore[arg-type]
    assert info.value.option == option


def test_malformed_nodes_raise_config_error() -> None:
    with pytest.raises(ami.ConfigError):
        inspect("ok", nodes="no-port")


def test_unreachable_nodes_raise_connect_error() -> None:
    address = _dead_address()
    with pytest.raises(ami.ConnectError) as info:
        inspect("ok", nodes=[address], connect_timeout=2.0)
    assert address in str(info.value)


# --------------------------------------------------------------------------- standalone


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    """A standalone (non-cluster) server."""
    try:
        server = server_binary()
    except ClusterError:
        pytest.skip("no redis-server/valkey-server")
    port = pick_ports(1)[0]
    command = [server, "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_up(port)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(port: int) -> None:
    for _ in range(200):
        try:
            with redis.Redis(port=port, socket_timeout=1.0) as client:
                client.ping()
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError(f"server on port {port} did not start")


def test_standalone_server(standalone: str, queue: str) -> None:
    host, port = standalone.rsplit(":", 1)
    with redis.Redis(host=host, port=int(port)) as client:
        for stream in stream_names(queue, 2):
            client.xadd(stream, {"m": b"x"})
        client.xgroup_create(stream, f"qu_{queue}_group", "0")

    stats = inspect(queue, nodes=standalone, shards=2)

    assert stats.length == 2
    assert [shard.lag for shard in stats.shards] == [0, 1]
    assert stats.lag == 1
