"""Child process of the memory measurement: ``python -m ami.bench.rss_child``.

The producer lingers for an hour and takes batches bigger than the whole run, so every
message stays in its buffer while the size is read. Kept apart from `ami.bench.rss` so
that the package never imports the module it runs as ``__main__``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from ami._producer import Producer
from ami.bench.admin import Admin
from ami.bench.config import SHARDS, Workload
from ami.bench.rss import RssError, RssSample

CHUNK = 10_000
_STATUS = Path("/proc/self/status")


def read_status_kb(field: str) -> int:
    """A ``kB`` field of /proc/self/status, e.g. ``VmRSS`` or ``VmHWM``.

    Raises:
        RssError: The field is missing (not Linux).
    """
    for line in _STATUS.read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise RssError(f"{field} not in {_STATUS}")


def idle_producer(nodes: list[str], queue: str, messages: int, body_size: int) -> Producer:
    """A producer that holds `messages` bodies: it takes batches bigger than the run,
    lingers for an hour behind the batch in flight, and writes no group or shard count."""
    return Producer(
        queue,
        nodes=nodes,
        shards=SHARDS,
        pending_buffer_size=messages + 1,
        pending_buffer_bytes=max(512 * 1024 * 1024, 2 * messages * body_size),
        pipe_buffer_size=messages + 1,
        pipe_buffer_bytes=max(16 * 1024 * 1024, 2 * messages * body_size),
        pipe_period=3600.0,
        create_group=False,
        check_shards=False,
    )


@contextmanager
def writes_paused(admin: Admin) -> Iterator[None]:
    """Every master holds writes unanswered (for at most a minute), so a batch the
    producer writes at once stays unconfirmed and every message stays held."""
    masters = [admin.client.get_redis_connection(node) for node in admin.client.get_primaries()]
    for master in masters:
        master.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
    try:
        yield
    finally:
        for master in masters:
            master.execute_command("CLIENT", "UNPAUSE")


def fill(producer: Producer, messages: int, body_size: int) -> RssSample:
    """Sends `messages` bodies to `producer` with `send_many`.

    Returns:
        The process's memory before and after.
    """
    body = Workload(body_size, messages).body
    baseline = read_status_kb("VmRSS")
    for start in range(0, messages, CHUNK):
        producer.send_many([body] * min(CHUNK, messages - start))
    return RssSample(
        baseline_kb=baseline,
        peak_kb=read_status_kb("VmHWM"),
        rss_kb=read_status_kb("VmRSS"),
        unwritten=len(producer),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Child entry point: prints one JSON line, then exits without writing the messages."""
    parser = argparse.ArgumentParser(prog="python -m ami.bench.rss")
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--body-size", type=int, required=True)
    args = parser.parse_args(argv)
    nodes = args.nodes.split(",")
    producer = idle_producer(nodes, args.queue, args.messages, args.body_size)
    with Admin(nodes) as admin, writes_paused(admin):
        sample = fill(producer, args.messages, args.body_size)
    print(json.dumps(asdict(sample)), flush=True)
    # Exit while `producer` is still referenced: dropping or closing it would write
    # every held message to the cluster.
    os._exit(0)


if __name__ == "__main__":
    main()
