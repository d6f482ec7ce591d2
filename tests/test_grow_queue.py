"""Growing a live queue from 10 to 20 shards (``ami.ops.grow``, ``ami grow``) while a
producer and a consumer run: they take on the new shards within seconds, without a
restart, and every message arrives."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from redis.cluster import RedisCluster

import ami
from ami import _ami, cli

BATCH = 200


class Sender(threading.Thread):
    """Sends numbered bodies in batches until stopped; remembers what was confirmed."""

    def __init__(self, producer: ami.Producer, first: int) -> None:
        super().__init__(daemon=True)
        self.producer, self.next = producer, first
        self.sent: list[bytes] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            bodies = [b"%d" % n for n in range(self.next, self.next + BATCH)]
            self.producer.send_many(bodies)
            assert self.producer.flush(timeout=30.0) == 0
            self.sent += bodies
            self.next += BATCH
            time.sleep(0.005)


class Receiver(threading.Thread):
    """Consumes and acks until stopped; remembers the bodies and streams it handled."""

    def __init__(self, consumer: ami.Consumer) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer
        self.bodies: list[bytes] = []
        self.streams: set[str] = set()
        self.handled: list[tuple[bytes, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.consumer.consume(1000, timeout=0.2)
            self.bodies += [m.body for m in batch]
            self.streams |= {m.stream for m in batch}
            self.handled += [(m.body, m.stream) for m in batch]
            self.consumer.ack_many(batch)


Worker = TypeVar("Worker", Sender, Receiver)


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    worker.start()
    try:
        yield worker
    finally:
        worker.stopping.set()
        worker.join(30.0)


def wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def offset_of(queue: str, layout: str, nodes: list[str]) -> int | None:
    """The recorded starting slot of a spread queue (None in the Go layout)."""
    return ami.inspect(queue, nodes=nodes).offset if layout == "spread" else None


def streams_of(queue: str, shards: int, layout: str, nodes: list[str]) -> list[str]:
    offset = offset_of(queue, layout, nodes)
    return [_ami.stream_name(queue, i, shards, layout, offset) for i in range(shards)]


def last_id(client: RedisCluster, stream: str) -> str:
    return str(client.xinfo_stream(stream)["last-generated-id"], "ascii")


def pending(client: RedisCluster, queue: str, streams: list[str]) -> int:
    return sum(client.xpending(stream, f"qu_{queue}_group")["pending"] for stream in streams)


@pytest.mark.parametrize(
    ("layout", "balance_masters"), [("spread", False), ("go", False), ("spread", True)]
)
def test_running_clients_follow_a_growth_from_10_to_20_shards(
    six_masters: list[str],
    six_masters_client: RedisCluster,
    queue: str,
    layout: str,
    balance_masters: bool,
) -> None:
    old: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": layout}
    told: list[ami.AmiError] = []
    producer = ami.Producer(queue, **old, balance_masters=balance_masters, on_error=told.append)
    consumer = ami.Consumer(queue, consumer="running", **old, on_error=told.append)
    all_streams = streams_of(queue, 20, layout, six_masters)
    added = set(all_streams) - set(streams_of(queue, 10, layout, six_masters))
    with running(Receiver(consumer)) as receiver:
        with running(Sender(producer, 0)) as sender:
            wait_for(lambda: len(receiver.bodies) > 2000, "traffic before growing")
            assert ami.ops.grow(queue, 20, nodes=six_masters) == 10
            wait_for(lambda: added <= receiver.streams, "every new shard written and read")
            grown_at = len(sender.sent)
            wait_for(lambda: len(sender.sent) > grown_at + 2000, "traffic after growing")
        sent = sender.sent
        wait_for(lambda: len(receiver.bodies) >= len(sent), "every message handled")
        assert consumer.flush(10.0) == 0
    producer.close()
    consumer.close()

    assert told == []
    assert sorted(receiver.bodies) == sorted(sent)
    # The streams it started with keep their places; the added ones come after them.
    assert consumer.streams[:10] == streams_of(queue, 10, layout, six_masters)
    assert set(consumer.streams) == set(all_streams)
    # Written to (acked entries are deleted, so the last id tells), and drained.
    assert all(last_id(six_masters_client, stream) != "0-0" for stream in added)
    assert pending(six_masters_client, queue, all_streams) == 0
    # A consumer that starts after the growth reads all 20 shards.
    late = ami.Consumer(queue, consumer="late", **{**old, "shards": 20})
    with ami.Producer(queue, **{**old, "shards": 20}) as grown_producer:
        # One small batch at a time: each goes to the next shard.
        for first in range(0, 400, 10):
            grown_producer.send_many([b"late-%d" % n for n in range(first, first + 10)])
            assert grown_producer.flush(10.0) == 0
    with running(Receiver(late)) as latecomer:
        wait_for(lambda: len(latecomer.bodies) >= 400, "the late consumer's messages")
    late.close()
    assert sorted(latecomer.bodies) == sorted(b"late-%d" % n for n in range(400))
    assert latecomer.streams == set(all_streams)
    with pytest.raises(ami.ConfigError, match="shards=20"):
        ami.Producer(queue, **old)


@pytest.mark.parametrize("layout", ["spread", "go"])
def test_a_shrunk_record_is_reported_not_followed(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str, layout: str
) -> None:
    told: list[ami.AmiError] = []
    options: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": layout}
    with ami.Producer(queue, **options, on_error=told.append) as producer:
        started_with = streams_of(queue, 10, layout, six_masters)
        record = f"qu_{queue}_shards"
        six_masters_client.set(record, "5 spread" if layout == "spread" else "5")
        wait_for(lambda: len(told) >= 1, "the shrink reported", 15.0)
        six_masters_client.set(record, "20" if layout == "spread" else "20 spread")
        wait_for(lambda: len(told) >= 2, "the layout change reported", 15.0)
        producer.send_many([b"%d" % n for n in range(100)])
        assert producer.flush(10.0) == 0
    assert [type(error) for error in told] == [ami.ConfigError, ami.ConfigError]
    assert "restart it" in str(told[0])
    # Still written to the ten streams it started with.
    assert sum(six_masters_client.xlen(stream) for stream in started_with) == 100


def test_growing_is_refused_unless_every_stream_stays_a_shard(
    six_masters: list[str], queue: str
) -> None:
    with ami.Producer(queue, nodes=six_masters, layout="spread"):
        pass
    for shards in (5, 10, 15, 128):
        with pytest.raises(ami.ConfigError) as raised:
            ami.ops.grow(queue, shards, nodes=six_masters)
        assert raised.value.option == "shards"
    assert ami.inspect(queue, nodes=six_masters).shards.__len__() == 10


def test_ami_grow_raises_the_recorded_count(
    six_masters: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ami.Producer(queue, nodes=six_masters, shards=3):
        pass
    seeds = ",".join(six_masters)

    assert cli.main(["grow", queue, "4", "--nodes", seeds]) == 0

    assert capsys.readouterr().out == f"{queue}: 3 -> 4 shards\n"
    stats = ami.inspect(queue, nodes=six_masters)
    assert (len(stats.shards), stats.layout) == (4, "go")
    assert cli.main(["grow", queue, "8", "--shards", "4", "--nodes", seeds]) == 2


@pytest.mark.parametrize("layout", ["spread", "go"])
def test_keyed_order_across_a_growth(six_masters: list[str], queue: str, layout: str) -> None:
    """A key that keeps its stream keeps its order. A key whose stream changes (about
    half of them in the Go layout, most in the spread one) reaches its old stream up to
    the moment the producer took on the new count and its new stream after: each part
    in order, the two read independently."""
    options: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": layout}
    keys = [f"key-{k}" for k in range(40)]
    told: list[ami.AmiError] = []
    producer = ami.Producer(queue, **options, on_error=told.append)
    consumer = ami.Consumer(queue, consumer="one", **options, on_error=told.append)
    stopping = threading.Event()
    sent: list[int] = [0]

    def send_keyed() -> None:
        seq = 0
        while not stopping.is_set():
            for key in keys:
                producer.send(b"%s:%d" % (key.encode(), seq), key=key)
            seq += 1
            if seq % 10 == 0:
                assert producer.flush(30.0) == 0
                sent[0] = seq
                time.sleep(0.005)

    with running(Receiver(consumer)) as receiver:
        sender = threading.Thread(target=send_keyed, daemon=True)
        sender.start()
        wait_for(lambda: sent[0] >= 50, "keyed traffic before growing")
        assert ami.ops.grow(queue, 20, nodes=six_masters) == 10
        added = set(streams_of(queue, 20, layout, six_masters)) - set(
            streams_of(queue, 10, layout, six_masters)
        )
        wait_for(lambda: added & receiver.streams != set(), "keys on the new shards")
        grown_at = sent[0]
        wait_for(lambda: sent[0] >= grown_at + 50, "keyed traffic after growing")
        stopping.set()
        sender.join(30.0)
        total = sent[0] * len(keys)
        wait_for(lambda: len(receiver.handled) >= total, "every keyed message handled")
    producer.close()
    consumer.close()

    assert told == []
    seen: dict[str, list[tuple[int, str]]] = {key: [] for key in keys}
    for body, stream in receiver.handled:
        key, seq = body.decode().split(":")
        seen[key].append((int(seq), stream))
    moved = 0
    for key, arrivals in seen.items():
        assert sorted(seq for seq, _ in arrivals) == list(range(sent[0])), key
        offset = offset_of(queue, layout, six_masters)
        old_stream = _ami.stream_name(queue, ami.shard_for_key(key, 10), 10, layout, offset)
        new_stream = _ami.stream_name(queue, ami.shard_for_key(key, 20), 20, layout, offset)
        for stream in {old_stream, new_stream}:
            part = [seq for seq, s in arrivals if s == stream]
            assert part == sorted(part), (key, stream)
        if old_stream == new_stream:
            assert [seq for seq, _ in arrivals] == list(range(sent[0])), key
        else:
            moved += 1
            before = [seq for seq, s in arrivals if s == old_stream]
            after = [seq for seq, s in arrivals if s == new_stream]
            assert before and after and max(before) < min(after), key
    assert 0 < moved < len(keys)


def test_a_growth_while_a_master_is_paused_loses_nothing(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    """A master holding new shards stops taking writes (`CLIENT PAUSE WRITE`) as the
    queue grows: the clients wait it out or try again at the next look, and once it is
    back every message arrives."""
    old: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": "spread"}
    producer = ami.Producer(queue, **old, on_error=lambda error: None)
    consumer = ami.Consumer(queue, consumer="paused", **old, on_error=lambda error: None)
    all_streams = streams_of(queue, 20, "spread", six_masters)
    added = sorted(set(all_streams) - set(streams_of(queue, 10, "spread", six_masters)))
    master = six_masters_client.get_redis_connection(six_masters_client.get_node_from_key(added[0]))
    with running(Receiver(consumer)) as receiver:
        with running(Sender(producer, 0)) as sender:
            wait_for(lambda: len(receiver.bodies) > 1000, "traffic before growing")
            assert ami.ops.grow(queue, 20, nodes=six_masters) == 10
            master.execute_command("CLIENT", "PAUSE", 4000, "WRITE")
            try:
                time.sleep(3.0)
            finally:
                master.execute_command("CLIENT", "UNPAUSE")
            wait_for(lambda: set(added) <= receiver.streams, "every new shard read", 40.0)
        sent = sender.sent
        wait_for(lambda: len(set(receiver.bodies)) >= len(sent), "every message handled")
    producer.close()
    consumer.close()
    assert set(receiver.bodies) == set(sent)
    assert set(consumer.streams) == set(all_streams)


KILLED_PRODUCER = """
import sys, ami
producer = ami.Producer(sys.argv[1], nodes=sys.argv[2].split(","), shards=10, layout="go")
n = 0
while True:
    producer.send_many([b"%d" % i for i in range(n, n + 100)])
    assert producer.flush(30.0) == 0
    n += 100
    print(n, flush=True)
"""


def test_a_producer_killed_while_the_queue_grows_loses_nothing_it_confirmed(
    six_masters: list[str], queue: str
) -> None:
    options: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": "go"}
    consumer = ami.Consumer(queue, consumer="survivor", **options)
    with running(Receiver(consumer)) as receiver:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_PRODUCER, queue, ",".join(six_masters)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert child.stdout is not None
        confirmed = 0
        try:
            while confirmed < 3000:
                confirmed = int(child.stdout.readline())
            assert ami.ops.grow(queue, 20, nodes=six_masters) == 10
            # Killed within the time it takes the producer to look at the record.
            deadline = time.monotonic() + random.uniform(0.5, 7.0)
            while time.monotonic() < deadline:
                confirmed = int(child.stdout.readline())
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10.0)
        # What it printed before it died and was not read yet.
        for line in child.stdout:
            confirmed = int(line)
        child.stdout.close()
        wait_for(lambda: len(set(receiver.bodies)) >= confirmed, "every confirmed message")
        time.sleep(1.0)
    consumer.close()
    received = {int(body) for body in receiver.bodies}
    assert set(range(confirmed)) <= received
    # Beyond what it confirmed, only what it was still writing when killed.
    assert max(received) < confirmed + 100


def test_a_growth_cut_short_before_the_record_changes_is_finished_by_growing_again(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    """`ami grow` killed after it gave the new streams the group but before it changed
    the record: running clients see nothing, and growing again finishes the job."""
    old: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": "spread"}
    told: list[ami.AmiError] = []
    producer = ami.Producer(queue, **old, on_error=told.append)
    consumer = ami.Consumer(queue, consumer="cut", **old, on_error=told.append)
    added = set(streams_of(queue, 20, "spread", six_masters)) - set(
        streams_of(queue, 10, "spread", six_masters)
    )
    for stream in added:
        six_masters_client.xgroup_create(stream, f"qu_{queue}_group", "$", mkstream=True)
    with running(Receiver(consumer)) as receiver:
        with running(Sender(producer, 0)) as sender:
            time.sleep(6.0)
            assert not added & receiver.streams
            assert ami.ops.grow(queue, 20, nodes=six_masters) == 10
            wait_for(lambda: added <= receiver.streams, "every new shard written and read")
        sent = sender.sent
        wait_for(lambda: len(receiver.bodies) >= len(sent), "every message handled")
    producer.close()
    consumer.close()
    assert told == []
    assert sorted(receiver.bodies) == sorted(sent)
