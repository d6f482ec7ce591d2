"""Where the tail of ami's send-to-delivery latency comes from, leg by leg.

Runs the `make bench` latency case (a paced `send()` per message in a child process, a
reader iterating ``consume(max_messages=1000, timeout=0.5)`` and acking each batch) with
wall-clock stamps, and splits each message's latency at the moment the server stored it,
which its entry id records to the millisecond:

- **to the server**: send → entry id (buffering, batching, the write, the server's queue);
- **to the reader**: entry id → ``consume()`` returned it (the read, the hand-over, and
  the reader's own loop while it was busy with the previous batch).

It also prints the CPU the five processes of the run used (sender, reader, three
masters) as cores of the run's wall time: a figure near the machine's core count means
the tail is time spent waiting for a core, not in ami.

    .venv/bin/python benches/latency_legs.py [--rate 100000] [--seconds 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import struct
import time

from ami._consumer import Consumer
from ami._producer import Producer
from ami.bench.admin import fresh_queue
from ami.bench.config import SHARDS
from ami.bench.latency import percentile
from ami.bench.latency_clients import send_paced
from ami.cluster import LocalCluster

_STAMP = struct.Struct("<Q8x")
_WARMUP_S = 1.0
_QUIET_S = 3.0
_TICKS = os.sysconf("SC_CLK_TCK")


def _stamped() -> bytes:
    return _STAMP.pack(time.time_ns())


def _sender(nodes: list[str], queue: str, rate: int, total: int) -> None:
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        send_paced(lambda _body: producer.send(_stamped()), rate, total)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _run(nodes: list[str], server_pids: list[int], rate: int, seconds: float) -> None:
    queue = fresh_queue("legs")
    total = int(rate * seconds)
    rows: list[tuple[int, int, int]] = []
    consumer = Consumer(queue, consumer="legs", nodes=nodes, shards=SHARDS)
    sender = multiprocessing.get_context("spawn").Process(
        target=_sender, args=(nodes, queue, rate, total)
    )
    reader_before = _cpu_seconds(os.getpid())
    servers_before = sum(_cpu_seconds(pid) for pid in server_pids)
    started = time.monotonic()
    sender.start()
    sender_cpu = 0.0
    with consumer:
        last = time.monotonic()
        while len(rows) < total and time.monotonic() - last < _QUIET_S:
            batch = consumer.consume(max_messages=1000, timeout=0.5)
            now = time.time_ns()
            for message in batch:
                rows.append((_STAMP.unpack(message.body)[0], _entry_ms(message.id), now))
            consumer.ack_many(batch)
            if batch:
                last = time.monotonic()
            if sender.pid is not None and sender.is_alive():
                sender_cpu = _cpu_seconds(sender.pid)
    wall = time.monotonic() - started - (time.monotonic() - last)
    sender.join()
    cores = {
        "sender": sender_cpu / wall,
        "reader": (_cpu_seconds(os.getpid()) - reader_before) / wall,
        "masters": (sum(_cpu_seconds(pid) for pid in server_pids) - servers_before) / wall,
    }
    busy = ", ".join(f"{name} {share:.2f}" for name, share in cores.items())
    first = min(sent for sent, _, _ in rows)
    kept = [row for row in rows if row[0] >= first + _WARMUP_S * 1e9]
    legs = {
        "send -> delivery": sorted(seen - sent for sent, _, seen in kept),
        "send -> server": sorted(stored * 1_000_000 - sent for sent, stored, _ in kept),
        "server -> delivery": sorted(seen - stored * 1_000_000 for _, stored, seen in kept),
    }
    print(f"rate {rate}/s, {len(kept)} timed, {total - len(rows)} lost")
    print(f"  cores busy {sum(cores.values()):.2f}: {busy}")
    for leg, values in legs.items():
        p50, p99, p999 = (percentile(values, q) / 1e6 for q in (0.5, 0.99, 0.999))
        print(f"  {leg:<20} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  p99.9 {p999:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with LocalCluster(masters=3) as cluster:
        for _ in range(args.runs):
            _run(cluster.nodes, cluster.pids, args.rate, args.seconds)


if __name__ == "__main__":
    main()
