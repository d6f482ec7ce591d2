"""Growing a live queue from 10 to 20 shards (``ami.ops.grow``, ``ami grow``) while a
producer and a consumer run, then replacing them with clients of the new count: every
message arrives, and the running clients are told, through `on_error`, to restart."""

from __future__ import annotations

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
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.consumer.consume(1000, timeout=0.2)
            self.bodies += [m.body for m in batch]
            self.streams |= {m.stream for m in batch}
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


@pytest.mark.parametrize("layout", ["spread", "go"])
def test_a_queue_grows_from_10_to_20_shards_without_losing_a_message(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str, layout: str
) -> None:
    old: dict[str, Any] = {"nodes": six_masters, "shards": 10, "layout": layout}
    new = {**old, "shards": 20}
    told: list[ami.AmiError] = []
    old_producer = ami.Producer(queue, **old, on_error=told.append)
    old_consumer = ami.Consumer(queue, consumer="old", **old, on_error=told.append)
    with running(Sender(old_producer, 0)) as first, running(Receiver(old_consumer)) as reader:
        wait_for(lambda: len(reader.bodies) > 2000, "traffic before growing")
        assert ami.ops.grow(queue, 20, nodes=six_masters) == 10
        # The new consumer first, then the new producer, then the old ones go.
        new_consumer = ami.Consumer(queue, consumer="new", **new)
        with running(Receiver(new_consumer)) as successor:
            new_producer = ami.Producer(queue, **new)
            with running(Sender(new_producer, 10_000_000)) as second:
                wait_for(lambda: len(second.sent) > 2000, "traffic after growing")
                wait_for(lambda: len(told) >= 2, "the old clients told of the growth", 20.0)
                first.stopping.set()
                first.join(30.0)
                old_producer.close()
                reader.stopping.set()
                reader.join(30.0)
                old_consumer.close()
                wait_for(lambda: len(second.sent) > 4000, "traffic on the new count alone")
            new_producer.close()
            sent = set(first.sent) | set(second.sent)
            wait_for(
                lambda: len(set(reader.bodies) | set(successor.bodies)) >= len(sent),
                "every message handled",
            )
        new_consumer.close()

    assert len(told) == 2
    for error in told:
        assert isinstance(error, ami.ConfigError)
        assert "shards=20" in str(error)
        assert "restart it" in str(error)
    handled = reader.bodies + successor.bodies
    assert set(handled) == sent
    offset = ami.inspect(queue, nodes=six_masters).offset
    assert six_masters_client.get(f"qu_{queue}_shards") == (
        b"20 spread %d" % offset if layout == "spread" else b"20"
    )
    streams_of_20 = {_ami.stream_name(queue, i, 20, layout, offset) for i in range(20)}
    assert successor.streams == streams_of_20
    with pytest.raises(ami.ConfigError, match="shards=20"):
        ami.Producer(queue, **old)


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
