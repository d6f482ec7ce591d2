"""How evenly each layout spreads queues over the masters: computed from the slot table
for any cluster size, and measured on local clusters as each master's share of the
server's work (``INFO commandstats``, microseconds spent in commands).

Run ``python -m ami.bench.spread`` for both tables (``--computed-only`` skips the
local clusters). The fair share is what the best placement of whole shards gives the
busiest master: ``ceil(shards / masters)`` of the shards, so a 10-shard queue on 9
masters is fair with 2 shards on one master.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ami
from ami import _ami
from ami.cluster import LocalCluster, slot_ranges

LAYOUTS = ("go", "spread")
SHARDS = 10
QUEUES = 20
COMPUTED_MASTERS = (30, 100)
MEASURED_MASTERS = (3, 6, 9)
MESSAGES = 200_000
# Time in commands is noisy on shared cores: each row sums several rounds.
ROUNDS = 3
BODY = b"x" * 64
BATCH = 1_000


@dataclass(frozen=True)
class Spread:
    """How the shards of some queues fall on the masters of one cluster."""

    layout: str
    masters: int
    queues: int
    shards: int
    used: int
    busiest: float
    fair: float
    # Measured rows: the busiest master's share of the server's time in commands.
    busiest_time: float | None = None

    @property
    def over_fair(self) -> float:
        return self.busiest / self.fair


def queue_names(count: int, prefix: str = "queue") -> list[str]:
    return [f"{prefix}-{i}" for i in range(count)] if count > 1 else [prefix]


def computed(layout: str, masters: int, queues: int, shards: int) -> Spread:
    """The shards per master when the masters own equal slot ranges (as ``redis-cli
    --cluster create`` assigns them). Spread queues are created one after another, each
    on the offset its clients choose (`ami._ami.choose_spread_offset`).

    Returns:
        The busiest master's and the fair share, in shards.
    """
    ranges = slot_ranges(masters)
    owner = [0] * 16384
    for index, (first, last) in enumerate(ranges):
        owner[first : last + 1] = [index] * (last - first + 1)
    placed: list[tuple[str, int, int | None]] = []
    for name in queue_names(queues):
        offset = _ami.choose_spread_offset(ranges, placed, shards) if layout == "spread" else None
        placed.append((name, shards, offset))
    held: Counter[int] = Counter(
        owner[_ami.shard_slot(name, shard, shards, layout, offset)]
        for name, _, offset in placed
        for shard in range(shards)
    )
    total = queues * shards
    return Spread(
        layout,
        masters,
        queues,
        shards,
        len(held),
        max(held.values()),
        math.ceil(total / masters),
    )


def server_work(nodes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per master since its stats were reset: XADD calls (messages written, one call
    each) and microseconds spent in all commands."""
    import redis

    work = {}
    for node in nodes:
        host, port = node.rsplit(":", 1)
        with redis.Redis(host=host, port=int(port)) as client:
            stats = client.info("commandstats")
        writes = int(stats.get("cmdstat_xadd", {}).get("calls", 0))
        work[node] = (writes, sum(int(entry["usec"]) for entry in stats.values()))
    return work


def reset_stats(nodes: Sequence[str]) -> None:
    import redis

    for node in nodes:
        host, port = node.rsplit(":", 1)
        with redis.Redis(host=host, port=int(port)) as client:
            client.config_resetstat()


def run_traffic(nodes: list[str], names: list[str], layout: str, messages: int) -> None:
    """Sends `messages` over the queues `names`, then consumes and acks every one.

    Each batch is flushed before the next, so the producer's round-robin gives every
    shard the same number of messages: the work differs between masters by the shards
    they hold, not by how bursts happened to be cut.
    """
    per_queue = messages // len(names)
    options = {"nodes": nodes, "shards": SHARDS, "layout": layout}
    for name in names:
        with ami.Producer(name, **options) as producer:  # type: ignore[arg-type]
            for _ in range(per_queue // BATCH):
                producer.send_many([BODY] * BATCH)
                producer.flush(timeout=30.0)
    for name in names:
        with ami.Consumer(name, consumer="c", **options) as consumer:  # type: ignore[arg-type]
            received = 0
            while received < per_queue:
                batch = consumer.consume(10_000, timeout=5.0)
                if not batch:
                    raise RuntimeError(f"{name}: {per_queue - received} messages missing")
                consumer.ack_many(batch)
                received += len(batch)


def measured(masters: int, queues: int, layout: str) -> Spread:
    """Runs the traffic of `queues` 10-shard queues (named as in `computed`) on a fresh
    local cluster, `ROUNDS` times, and returns the busiest master's shares of the
    writes and of the server's time."""
    with LocalCluster(masters=masters) as cluster:
        nodes = cluster.nodes
        reset_stats(nodes)
        for _ in range(ROUNDS):
            run_traffic(nodes, queue_names(queues), layout, MESSAGES)
        work = server_work(nodes)
    writes = {node: written for node, (written, _) in work.items()}
    time_spent = {node: spent for node, (_, spent) in work.items()}
    shards = queues * SHARDS
    return Spread(
        layout,
        masters,
        queues,
        SHARDS,
        sum(1 for written in writes.values() if written),
        max(writes.values()) / sum(writes.values()),
        math.ceil(shards / masters) / shards,
        max(time_spent.values()) / sum(time_spent.values()),
    )


def format_table(rows: Sequence[Spread], *, shares: bool) -> list[str]:
    """A Markdown table: one line per cluster size and workload, the layouts side by side,
    each as masters used and the busiest master's load (and that over the fair one)."""
    unit = "share" if shares else "shards"
    lines = [
        f"| masters | queues x shards | fair ({unit}) | go: masters used, busiest "
        "| spread: masters used, busiest |",
        "|---|---|---|---|---|",
    ]

    def value(number: float) -> str:
        return f"{number:.1%}" if shares else f"{number:.0f}"

    by_workload: dict[tuple[int, int, int], dict[str, Spread]] = {}
    for row in rows:
        by_workload.setdefault((row.masters, row.queues, row.shards), {})[row.layout] = row
    for (masters, queues, shards), layouts in by_workload.items():
        fair = next(iter(layouts.values())).fair
        cells = [_cell(layouts[layout], value) if layout in layouts else "-" for layout in LAYOUTS]
        lines.append(f"| {masters} | {queues} x {shards} | {value(fair)} | {' | '.join(cells)} |")
    return lines


def _cell(row: Spread, value: Callable[[float], str]) -> str:
    cell = f"{row.used}, {value(row.busiest)} ({row.over_fair:.2f}x)"
    if row.busiest_time is not None:
        cell += f"; time {value(row.busiest_time)} ({row.busiest_time / row.fair:.2f}x)"
    return cell


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ami.bench.spread", description=__doc__)
    parser.add_argument("--computed-only", action="store_true", help="skip the local clusters")
    parser.add_argument(
        "--layout", choices=LAYOUTS, action="append", help="measure only this layout (repeatable)"
    )
    args = parser.parse_args(argv)
    measured_layouts = tuple(args.layout or LAYOUTS)
    workloads = [(1, SHARDS), (1, 32), (1, 100), (QUEUES, SHARDS)]
    rows = [
        computed(layout, masters, queues, shards)
        for masters in COMPUTED_MASTERS
        for queues, shards in workloads
        for layout in LAYOUTS
    ]
    print("Computed from the slot table (masters owning equal slot ranges):\n")
    print("\n".join(format_table(rows, shares=False)))
    if args.computed_only:
        return 0
    print(
        f"\nMeasured ({ROUNDS} x {MESSAGES:,} messages sent, consumed and acked per row; "
        "shares of the writes, and of the time in commands):\n"
    )
    started = time.monotonic()
    rows = [
        measured(masters, queues, layout)
        for masters in MEASURED_MASTERS
        for queues in (1, QUEUES)
        for layout in measured_layouts
    ]
    print("\n".join(format_table(rows, shares=True)))
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
