"""The demo: a million messages through a local 3-master cluster, with rates."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from ami._consumer import Consumer
from ami._producer import Producer
from ami.cluster import LocalCluster
from ami.exceptions import ConfigError

CHUNK = 10_000


class Progress:
    """A one-line progress bar on a terminal; plain milestones elsewhere."""

    def __init__(self, label: str, total: int, out: TextIO = sys.stderr) -> None:
        self.label, self.total, self.out = label, total, out
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._tty = out.isatty()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self._last_draw < (0.1 if self._tty else 2.0) and done < self.total:
            return
        self._last_draw = now
        rate = done / max(now - self.started, 1e-9)
        filled = int(30 * done / self.total)
        bar = "#" * filled + "-" * (30 - filled)
        line = f"{self.label:<8} [{bar}] {done:>9,}/{self.total:,} {rate:>11,.0f} msg/s"
        self.out.write(f"\r{line}" if self._tty else f"{line}\n")
        self.out.flush()

    def finish(self, done: int) -> float:
        self.update(done)
        if self._tty:
            self.out.write("\n")
        return time.perf_counter() - self.started


def produce(name: str, nodes: list[str], total: int, body: bytes) -> float:
    """Sends `total` copies of `body` with `send_many`; returns the seconds taken."""
    progress = Progress("produce", total)
    with Producer(name, nodes=nodes) as producer:
        for start in range(0, total, CHUNK):
            sent = start + producer.send_many([body] * min(CHUNK, total - start))
            progress.update(sent - len(producer))
        producer.flush()
    return progress.finish(total)


def consume(name: str, nodes: list[str], total: int) -> float:
    """Consumes and acks `total` messages; returns the seconds taken."""
    progress = Progress("consume", total)
    received = 0
    with Consumer(name, consumer="demo", nodes=nodes, prefetch_count=1000) as consumer:
        while received < total:
            batch = consumer.consume(CHUNK, timeout=10.0)
            if not batch:
                raise RuntimeError(f"only {received:,} of {total:,} messages arrived")
            consumer.ack_many(batch)
            received += len(batch)
            progress.update(received)
        consumer.flush()
    return progress.finish(received)


@contextmanager
def cluster_for(nodes: list[str] | None, masters: int) -> Iterator[list[str]]:
    """The given nodes, or a local cluster started for the demo and stopped after it."""
    if nodes:
        yield nodes
        return
    print(f"starting a local {masters}-master cluster ...", file=sys.stderr)
    with LocalCluster(masters=masters) as cluster:
        print(f"cluster up: {','.join(cluster.nodes)} ({cluster.server_version})", file=sys.stderr)
        yield cluster.nodes


def run(messages: int = 1_000_000, nodes: list[str] | None = None, masters: int = 3) -> int:
    """Runs the demo and prints the rates; returns the exit code.

    Raises:
        ConfigError: `messages` or `masters` is less than 1.
    """
    for option, value in (("messages", messages), ("masters", masters)):
        if value < 1:
            raise ConfigError(f"invalid {option}: must be at least 1, got {value}", option)
    name = f"demo-{uuid.uuid4().hex[:8]}"
    with cluster_for(nodes, masters) as seeds:
        produced = produce(name, seeds, messages, b"{}")
        consumed = consume(name, seeds, messages)
    print(f"queue {name}: {messages:,} messages of 2 bytes over 10 shards")
    print(f"  produce (send_many)         {messages / produced:>12,.0f} msg/s  {produced:6.2f} s")
    print(f"  consume + ack (ack_many)    {messages / consumed:>12,.0f} msg/s  {consumed:6.2f} s")
    return 0
