"""End-to-end latency at a steady rate, from send to a consumer holding the message.

The sender runs in a child process and paces one message per call; the reader runs
here. Each client is measured the way its users would run it: ami with default options
(a `send()` per message, `consume(1000)` + `ack_many`), and the floor as the plainest
client there is: redis-py with one `XADD` per message and a reader blocked in
`XREADGROUP`.
"""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import dataclass

from ami.bench.admin import Admin
from ami.bench.latency_clients import ami_receiver, ami_sender, floor_receiver, floor_sender

AMI = "ami"
FLOOR = "redis-py XADD per message"
CLIENTS = (FLOOR, AMI)
# After the sender is done, how long the reader may take to see every message.
_DRAIN_TIMEOUT = 10.0


class LatencyError(RuntimeError):
    """Too few messages arrived to report percentiles."""


@dataclass(frozen=True)
class LatencySample:
    """Percentiles of one steady-rate run, in milliseconds.

    Attributes:
        client: `AMI` or `FLOOR`.
        rate: Messages per second asked of the sender.
        achieved_rate: Messages per second it sent (a client may not keep up).
        samples: Messages timed (those after the warm-up).
        lost: Messages sent but never seen.
    """

    client: str
    rate: int
    achieved_rate: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    samples: int
    lost: int


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of already sorted values.

    Args:
        sorted_values: Ascending values; not empty.
        fraction: Between 0 and 1, e.g. 0.99.

    Returns:
        The smallest value with at least `fraction` of the values at or below it.
    """
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def measure_latency(
    admin: Admin,
    nodes: list[str],
    queue: str,
    *,
    client: str,
    rate: int,
    seconds: float,
    warmup: float,
) -> LatencySample:
    """Sends `rate` messages per second for `seconds` and times each until read.

    Args:
        admin: Cluster client (the floor's reader uses it).
        nodes: Seed nodes.
        queue: Fresh queue name.
        client: `AMI` or `FLOOR`.
        rate: Messages per second.
        seconds: How long to send.
        warmup: Seconds of messages at the start left out (connections, first reads).

    Returns:
        The percentiles of the messages after the warm-up.

    Raises:
        LatencyError: No message after the warm-up arrived.
    """
    total = max(1, int(rate * seconds))
    timed: list[tuple[int, int]] = []

    def record(stamp: int, latency: int) -> None:
        timed.append((stamp, latency))

    if client == AMI:
        receive = ami_receiver(nodes, queue, total, record)
        sender = ami_sender
    else:
        receive = floor_receiver(admin, queue, total, record)
        sender = floor_sender
    process = multiprocessing.get_context("spawn").Process(
        target=sender, args=(nodes, queue, rate, total), name="bench-latency-sender"
    )
    process.start()
    try:
        receive()
    finally:
        process.join(_DRAIN_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
    return _summarise(client, rate, total, warmup, timed)


def _summarise(
    client: str, rate: int, total: int, warmup: float, timed: list[tuple[int, int]]
) -> LatencySample:
    if not timed:
        raise LatencyError(f"none of {total} messages arrived")
    first = min(stamp for stamp, _ in timed)
    last = max(stamp for stamp, _ in timed)
    kept = sorted(latency for stamp, latency in timed if stamp >= first + warmup * 1e9)
    if not kept:
        raise LatencyError(f"{len(timed)} of {total} messages arrived, all in the warm-up")
    return LatencySample(
        client=client,
        rate=rate,
        achieved_rate=(len(timed) - 1) / max((last - first) / 1e9, 1e-9),
        p50_ms=percentile(kept, 0.50) / 1e6,
        p99_ms=percentile(kept, 0.99) / 1e6,
        p999_ms=percentile(kept, 0.999) / 1e6,
        max_ms=kept[-1] / 1e6,
        samples=len(kept),
        lost=total - len(timed),
    )
