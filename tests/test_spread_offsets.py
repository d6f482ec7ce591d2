"""Where new spread queues start: each chooses its offset knowing the spread queues
before it (the list in ``qu_spread_offsets``), records it in its own metadata key, and
every client and tool of the queue runs on the recorded offset, list or no list."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from redis.cluster import RedisCluster

import ami
from ami import _ami
from ami.cluster import slot_ranges
from helpers import drain

MASTERS = 6  # as the six_masters fixture starts
SHARDS = 10
QUEUES = 20
REGISTRY = "qu_spread_offsets"
# The bar: the busiest master carries at most 1.25 times its fair share.
FAIR_SHARE_SLACK = 1.25


def recorded(client: RedisCluster, queue: str) -> str:
    value = client.get(f"qu_{queue}_shards")
    assert value is not None
    return value.decode()


def offset_of(client: RedisCluster, queue: str) -> int:
    _count, layout, offset = recorded(client, queue).split(" ")
    assert layout == "spread"
    return int(offset)


def listed(client: RedisCluster) -> dict[str, str]:
    text = (client.get(REGISTRY) or b"").decode()
    return dict(line.split(" ", 1) for line in text.splitlines())


def masters_of(client: RedisCluster, queues: list[str]) -> Counter[str]:
    """Shards per master of `queues`, on their recorded offsets, from the slot map."""
    held: Counter[str] = Counter()
    for queue in queues:
        count = int(recorded(client, queue).split(" ")[0])
        for shard in range(count):
            stream = _ami.stream_name(queue, shard, count, "spread", offset_of(client, queue))
            node = client.get_node_from_key(stream)
            held[f"{node.host}:{node.port}"] += 1
    return held


def one_after_another(queues: int) -> list[int]:
    """The offsets `queues` 10-shard queues get when created one after another on the
    fixture's slot ranges, sorted: names do not matter to the choice, only the order."""
    ranges = slot_ranges(MASTERS)
    placed: list[tuple[str, int, int | None]] = []
    for index in range(queues):
        placed.append((f"q{index}", SHARDS, _ami.choose_spread_offset(ranges, placed, SHARDS)))
    return sorted(offset for _, _, offset in placed if offset is not None)


def within_fair_share(held: Counter[str], shards: int) -> bool:
    return max(held.values()) <= FAIR_SHARE_SLACK * math.ceil(shards / MASTERS)


@pytest.fixture
def no_registry(six_masters_client: RedisCluster) -> RedisCluster:
    """Only the queues a test creates count: the module's earlier ones leave the list."""
    six_masters_client.delete(REGISTRY)
    return six_masters_client


def test_twenty_queues_created_one_by_one_are_spread_within_the_fair_share(
    six_masters: list[str], no_registry: RedisCluster, queue: str
) -> None:
    queues = [f"{queue}-{i}" for i in range(QUEUES)]
    for name in queues:
        with ami.Producer(name, nodes=six_masters, layout="spread", create_group=False):
            pass

    held = masters_of(no_registry, queues)
    assert sorted(held) == sorted(six_masters)
    # 200 shards on 6 masters: 34 is the best any placement of whole shards does.
    assert max(held.values()) == math.ceil(QUEUES * SHARDS / MASTERS)
    assert listed(no_registry) == {name: recorded(no_registry, name) for name in queues}
    # What tools show agrees with the slot map and the record.
    stats = ami.inspect(queues[3], nodes=six_masters)
    assert stats.offset == offset_of(no_registry, queues[3])
    assert Counter(shard.master for shard in stats.shards) == masters_of(no_registry, [queues[3]])


def test_queues_created_at_once_each_choose_knowing_the_others(
    six_masters: list[str], no_registry: RedisCluster, queue: str
) -> None:
    queues = [f"{queue}-{i}" for i in range(QUEUES)]
    failures: list[BaseException] = []
    start = threading.Barrier(QUEUES)

    def create(name: str) -> None:
        try:
            start.wait()
            with ami.Producer(name, nodes=six_masters, layout="spread", create_group=False):
                pass
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create, args=(name,)) for name in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)

    assert failures == []
    # The list was swapped whole, never over a change: every queue is on it, and the
    # offsets are those the queues get created one after another.
    assert listed(no_registry) == {name: recorded(no_registry, name) for name in queues}
    assert sorted(offset_of(no_registry, name) for name in queues) == one_after_another(QUEUES)
    held = masters_of(no_registry, queues)
    assert max(held.values()) == math.ceil(QUEUES * SHARDS / MASTERS)
    assert within_fair_share(held, QUEUES * SHARDS)


def test_clients_of_one_new_queue_started_at_once_agree_on_its_offset(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    clients: list[ami.Producer | ami.Consumer] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def join(index: int) -> None:
        try:
            start.wait()
            client: ami.Producer | ami.Consumer
            if index % 2:
                client = ami.Consumer(
                    queue, consumer=f"c{index}", nodes=six_masters, layout="spread"
                )
            else:
                client = ami.Producer(queue, nodes=six_masters, layout="spread")
            with lock:
                clients.append(client)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=join, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)
    assert failures == []
    offset = offset_of(six_masters_client, queue)
    streams = [_ami.stream_name(queue, i, SHARDS, "spread", offset) for i in range(SHARDS)]
    producers = [c for c in clients if isinstance(c, ami.Producer)]
    consumers = [c for c in clients if isinstance(c, ami.Consumer)]
    for consumer in consumers:
        assert consumer.streams == streams
    bodies = [b"%d" % i for i in range(400)]
    for index, producer in enumerate(producers):
        producer.send_many(bodies[index::4])
        producer.close()
    received = [m for consumer in consumers for m in drain(consumer, 100, idle=1.0)]
    for consumer in consumers:
        received += drain(consumer, 400, idle=1.0)
        consumer.close()
    assert sorted(m.body for m in received) == sorted(bodies)
    assert {m.stream for m in received} <= set(streams)


def test_a_queue_whose_entry_vanished_still_runs_on_its_record(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    options = {"nodes": six_masters, "layout": "spread"}
    with ami.Producer(queue, **options) as producer:  # type: ignore[arg-type]
        producer.send_many([b"before"] * 50)
    offset = offset_of(six_masters_client, queue)
    six_masters_client.delete(REGISTRY)
    # Another queue created meanwhile may take any place: the list no longer says.
    with ami.Producer(f"{queue}-other", **options):  # type: ignore[arg-type]
        pass

    with ami.Producer(queue, **options) as producer:  # type: ignore[arg-type]
        producer.send_many([b"after"] * 50)
    with ami.Consumer(queue, consumer="c", **options) as consumer:  # type: ignore[arg-type]
        received = drain(consumer, 100)
    assert sorted(m.body for m in received) == [b"after"] * 50 + [b"before"] * 50
    assert offset_of(six_masters_client, queue) == offset
    streams = {_ami.stream_name(queue, i, SHARDS, "spread", offset) for i in range(SHARDS)}
    assert {m.stream for m in received} <= streams
    # Its clients put it back on the list.
    assert listed(six_masters_client)[queue] == f"10 spread {offset}"
    with ami.DeadLetters(queue, nodes=six_masters) as letters:
        assert letters.count() == 0
    assert ami.inspect(queue, nodes=six_masters).length == 0


def test_a_queue_recorded_before_offsets_were_chosen_keeps_the_slot_of_its_name(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    six_masters_client.set(f"qu_{queue}_shards", "10 spread")
    options = {"nodes": six_masters, "layout": "spread"}
    with ami.Producer(queue, **options) as producer:  # type: ignore[arg-type]
        producer.send_many([b"x"] * 30)
    with ami.Consumer(queue, consumer="c", **options) as consumer:  # type: ignore[arg-type]
        named = [_ami.stream_name(queue, i, SHARDS, "spread") for i in range(SHARDS)]
        assert consumer.streams == named
        assert len(drain(consumer, 30)) == 30
    assert recorded(six_masters_client, queue) == "10 spread"
    assert listed(six_masters_client)[queue] == "10 spread"
    assert ami.inspect(queue, nodes=six_masters).offset == _ami.shard_slot(
        queue, 0, SHARDS, "spread"
    )


@pytest.mark.parametrize("value", ["10 spread 16384", "10 spread 01", "10 spread 5 x"])
def test_a_record_this_client_cannot_read_fails_at_start(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str, value: str
) -> None:
    six_masters_client.set(f"qu_{queue}_shards", value)
    with pytest.raises(ami.ConfigError) as raised:
        ami.Producer(queue, nodes=six_masters, layout="spread")
    assert repr(value) in str(raised.value) or f'"{value}"' in str(raised.value)
    with pytest.raises(ami.ConfigError):
        ami.inspect(queue, nodes=six_masters)
    assert recorded(six_masters_client, queue) == value


def test_a_client_without_the_check_follows_the_recorded_offset(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=six_masters, layout="spread") as producer:
        producer.send_many([b"y"] * 20)
    offset = offset_of(six_masters_client, queue)
    with ami.Consumer(
        queue, consumer="c", nodes=six_masters, layout="spread", check_shards=False
    ) as consumer:
        assert consumer.streams[0] == _ami.stream_name(queue, 0, SHARDS, "spread", offset)
        assert len(drain(consumer, 20)) == 20


def test_growing_keeps_the_offset_and_the_list(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=six_masters, layout="spread"):
        pass
    offset = offset_of(six_masters_client, queue)

    assert ami.ops.grow(queue, 20, nodes=six_masters) == 10

    assert recorded(six_masters_client, queue) == f"20 spread {offset}"
    assert listed(six_masters_client)[queue] == f"20 spread {offset}"
    with ami.Consumer(queue, consumer="c", nodes=six_masters, shards=20, layout="spread") as c:
        assert c.streams == [_ami.stream_name(queue, i, 20, "spread", offset) for i in range(20)]


def test_the_offset_choice_is_offered_for_planning() -> None:
    ranges = slot_ranges(MASTERS)
    first = _ami.choose_spread_offset(ranges, [], SHARDS)
    assert first == _ami.choose_spread_offset(ranges, [], SHARDS)
    second = _ami.choose_spread_offset(ranges, [("a", SHARDS, first)], SHARDS)
    assert second != first
    with pytest.raises(ami.ConfigError):
        _ami.choose_spread_offset([(5, 2)], [], SHARDS)
    with pytest.raises(ami.ConfigError):
        _ami.choose_spread_offset(ranges, [("a", SHARDS, 16384)], SHARDS)
    with pytest.raises(ami.ConfigError):
        _ami.stream_name("q", 0, SHARDS, "go", 5)


CREATE_IN_A_PROCESS = """
import sys, time
import ami
nodes, name, at = sys.argv[1].split(","), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, at - time.time()))
with ami.Producer(name, nodes=nodes, layout="spread", create_group=False):
    pass
"""


def test_queues_created_by_processes_at_once_each_choose_knowing_the_others(
    six_masters: list[str], no_registry: RedisCluster, queue: str
) -> None:
    queues = [f"{queue}-{i}" for i in range(8)]
    # Every process imports first, then all create at the same instant.
    at = time.time() + 3.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_IN_A_PROCESS, ",".join(six_masters), name, str(at)]
        )
        for name in queues
    ]
    assert [process.wait(60.0) for process in processes] == [0] * len(queues)

    assert listed(no_registry) == {name: recorded(no_registry, name) for name in queues}
    # Two queues share an offset only where created one after another they would too
    # (on 6 masters a 10-shard queue has few distinct placements).
    offsets = sorted(offset_of(no_registry, name) for name in queues)
    assert offsets == one_after_another(len(queues))
    assert max(masters_of(no_registry, queues).values()) == math.ceil(80 / MASTERS)
