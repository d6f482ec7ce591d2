"""Where a consumed message's server time goes: XREADGROUP, XACK, XDEL, the ack script.

For each way of deleting acked entries (`trim_acked=True`, the default, and plain
XACK+XDEL), produces N messages to a local 3-master cluster, consumes and acks them
with `consume` + `ack_many`, and prints the servers' own CPU time per message for each
command, from INFO commandstats (reset just before consuming). Commands a script runs
are counted both under their own name and under `eval`.

    .venv/bin/python benches/server_profile.py [--messages 500000]
"""

from __future__ import annotations

import argparse
import os
import re
import time
import uuid

import ami
from ami._resp import connect

# Commands the ack script runs; with it, their time is also counted under `eval`.
SCRIPTED = {"xack", "xdel", "xtrim", "xpending", "xinfo|groups"}
STAT = re.compile(r"cmdstat_(\w+(?:\|\w+)?):calls=(\d+),usec=(\d+)")


def on_each_master(nodes: list[str], *command: str) -> list[bytes]:
    replies = []
    for node in nodes:
        host, port = node.rsplit(":", 1)
        with connect(host, int(port)) as conn:
            replies.append(conn.command(*command))
    return replies


def server_seconds(nodes: list[str]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for reply in on_each_master(nodes, "INFO", "commandstats"):
        for name, _calls, usec in STAT.findall(reply.decode()):
            totals[name] = totals.get(name, 0.0) + int(usec) / 1e6
    return totals


def profile(nodes: list[str], total: int, *, trim_acked: bool) -> None:
    queue = f"profile-{uuid.uuid4().hex[:8]}"
    with ami.Producer(queue, nodes=nodes) as producer:
        for start in range(0, total, 10_000):
            producer.send_many([b"{}"] * min(10_000, total - start))
    on_each_master(nodes, "CONFIG", "RESETSTAT")
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
    seconds = server_seconds(nodes)
    mode = "trim_acked=True" if trim_acked else "trim_acked=False (XACK+XDEL)"
    print(f"{mode}: consume+ack of {received:,} messages: {received / wall:,.0f} msg/s")
    for name, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"  {name:<14} {spent:6.2f} s server time  {spent / received * 1e6:5.2f} us/message")
    # A script's inner commands are inside its own time: count only the outermost.
    outer = sum(spent for name, spent in seconds.items() if name not in SCRIPTED)
    if "eval" not in seconds:
        outer = sum(seconds.values())
    available = (os.cpu_count() or 1) * wall
    print(
        f"  {'all servers':<14} {outer:6.2f} s of {available:.2f} core-seconds"
        f"  {outer / received * 1e6:5.2f} us/message"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    total = parser.parse_args().messages
    with ami.LocalCluster(masters=3) as cluster:
        for trim_acked in (True, False):
            profile(cluster.nodes, total, trim_acked=trim_acked)


if __name__ == "__main__":
    main()
