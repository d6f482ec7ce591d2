"""The shard-count guard on every server: Redis 7.0+ records the count with one
`SET … NX GET`, Redis 6.2 (which refuses NX with GET) with `SET NX`, then `GET`."""

from __future__ import annotations

import threading

import pytest
from redis.cluster import RedisCluster

import ami

CLIENTS = 8


def test_racing_clients_agree_on_the_first_recorded_count(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    start = threading.Barrier(CLIENTS)
    started: list[int] = []
    refused: list[tuple[int, ami.ConfigError]] = []

    def client(shards: int) -> None:
        start.wait()
        try:
            ami.Producer(queue, nodes=nodes, shards=shards, create_group=False).close()
            started.append(shards)
        except ami.ConfigError as error:
            refused.append((shards, error))

    threads = [threading.Thread(target=client, args=(3 + i % 2,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winner = int(redis_client.get(f"qu_{queue}_shards"))
    assert started and set(started) == {winner}
    assert len(started) + len(refused) == CLIENTS
    for shards, error in refused:
        assert shards != winner
        assert f"shards={winner}" in str(error)


def test_a_count_deleted_by_hand_is_recorded_again(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=3, create_group=False):
        pass
    redis_client.delete(f"qu_{queue}_shards")
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=4):
        pass
    assert redis_client.get(f"qu_{queue}_shards") == b"4"


def test_a_shards_key_of_another_type_is_a_server_error(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    redis_client.hset(f"qu_{queue}_shards", "n", "3")
    with pytest.raises(ami.ServerError) as raised:
        ami.Producer(queue, nodes=nodes, shards=3)
    assert raised.value.code == "WRONGTYPE"
    assert raised.value.key == f"qu_{queue}_shards"
