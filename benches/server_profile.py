"""Where a consumed message's server time goes: XREADGROUP, XACK, XDEL, the ack script.

For the default (`trim_acked=True`), plain XACK+XDEL, and batches shared among masters
(`balance_masters=True`), produces N messages to a local 3-master cluster, consumes and
acks them with `consume` + `ack_many`, and prints the servers' own CPU time per message
for each command, from INFO commandstats (reset just before consuming), and each
master's share of it. Commands the ack script runs are counted both under their own
name and under `eval`.

    .venv/bin/python benches/server_profile.py [--messages 500000]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from typing import Any

import redis

import ami

# Commands the ack script runs; with it, their time is also counted under `eval`.
SCRIPTED = {"xtrim", "xrange", "xlen", "xdel"}


def on_node(node: str, *command: str) -> Any:
    host, port = node.rsplit(":", 1)
    with redis.Redis(host=host, port=int(port)) as conn:
        return conn.execute_command(*command)


def node_seconds(node: str) -> dict[str, float]:
    """Server time per command on one node, from INFO commandstats."""
    host, port = node.rsplit(":", 1)
    with redis.Redis(host=host, port=int(port)) as conn:
        stats = conn.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(fields["usec"]) / 1e6 for name, fields in stats.items()
    }


def busy_seconds(per_command: dict[str, float]) -> float:
    """Time the node spent on commands; a script's inner commands are inside its own time."""
    if "eval" not in per_command:
        return sum(per_command.values())
    return sum(spent for name, spent in per_command.items() if name not in SCRIPTED)


def shards_on(node: str, queue: str) -> int:
    reply = on_node(node, "SCAN", "0", "MATCH", f"qu{{*}}_{queue}", "COUNT", "100000")
    return len(reply[1])


def profile(nodes: list[str], total: int, *, trim_acked: bool, balance_masters: bool) -> None:
    queue = f"profile-{uuid.uuid4().hex[:8]}"
    with ami.Producer(queue, nodes=nodes, balance_masters=balance_masters) as producer:
        for start in range(0, total, 10_000):
            producer.send_many([b"{}"] * min(10_000, total - start))
    for node in nodes:
        on_node(node, "CONFIG", "RESETSTAT")
    started = time.perf_counter()
    received = 0
    with ami.Consumer(
        queue, consumer="c", nodes=nodes, prefetch_count=1000, trim_acked=trim_acked
    ) as c:
        while received < total and (batch := c.consume(10_000, timeout=5.0)):
            c.ack_many(batch)
            received += len(batch)
        c.flush()
    wall = time.perf_counter() - started
    per_node = {node: node_seconds(node) for node in nodes}
    seconds: dict[str, float] = {}
    for per_command in per_node.values():
        for name, spent in per_command.items():
            seconds[name] = seconds.get(name, 0.0) + spent
    mode = f"trim_acked={trim_acked}, balance_masters={balance_masters}"
    print(f"{mode}: consume+ack of {received:,} messages: {received / wall:,.0f} msg/s")
    for name, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        if spent >= 0.005:
            per_message = spent / received * 1e6
            print(f"  {name:<14} {spent:6.2f} s server time  {per_message:5.2f} us/message")
    busy = {node: busy_seconds(per_command) for node, per_command in per_node.items()}
    all_busy = sum(busy.values())
    available = (os.cpu_count() or 1) * wall
    print(
        f"  {'all servers':<14} {all_busy:6.2f} s of {available:.2f} core-seconds"
        f"  {all_busy / received * 1e6:5.2f} us/message"
    )
    for node in nodes:
        print(
            f"  {node:<16} {shards_on(node, queue)} shards, {busy[node] / all_busy:4.0%} of the"
            f" server time, {busy[node] / wall:4.0%} of a core"
        )
    # A server runs commands on one thread: the busiest one caps the queue's rate.
    busiest = max(busy.values()) / received
    print(f"  the busiest master would fill a core at {1 / busiest:,.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    total = parser.parse_args().messages
    with ami.LocalCluster(masters=3) as cluster:
        for trim_acked, balance_masters in ((True, False), (False, False), (True, True)):
            profile(cluster.nodes, total, trim_acked=trim_acked, balance_masters=balance_masters)


if __name__ == "__main__":
    main()
