"""End-to-end latency at a steady rate: send, write, read, hand to Python.

Producer and consumer run in one process with the default options, so both ends read
the same `time.perf_counter_ns` clock: each body carries its send time.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from ami._consumer import Consumer
from ami._producer import Producer
from ami.bench.config import SHARDS

# After the last send, how long the consumer may take to see every message.
DRAIN_TIMEOUT = 10.0


class LatencyError(RuntimeError):
    """Too few messages arrived to report percentiles."""


@dataclass(frozen=True)
class LatencySample:
    """Percentiles of one steady-rate run, in milliseconds."""

    p50_ms: float
    p99_ms: float
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
    nodes: list[str], queue: str, rate: int, seconds: float, warmup: float
) -> LatencySample:
    """Sends `rate` messages per second for `seconds` and times each until consumed.

    Args:
        nodes: Seed nodes.
        queue: Fresh queue name.
        rate: Messages per second.
        seconds: How long to send.
        warmup: Seconds of messages at the start left out (connections, first reads).

    Returns:
        The percentiles of the messages after the warm-up.

    Raises:
        LatencyError: No message after the warm-up arrived.
    """
    total = max(1, int(rate * seconds))
    skip = int(rate * warmup)
    latencies: list[int] = []
    with (
        Producer(queue, nodes=nodes, shards=SHARDS) as producer,
        Consumer(queue, consumer="latency", nodes=nodes, shards=SHARDS) as consumer,
    ):
        receiver = threading.Thread(
            target=_receive, args=(consumer, total, latencies), name="bench-latency"
        )
        receiver.start()
        _send_paced(producer, total, rate)
        receiver.join(DRAIN_TIMEOUT)
        consumer.stop()
        receiver.join()
    kept = sorted(latencies[skip:])
    if not kept:
        raise LatencyError(f"{len(latencies)} of {total} messages arrived")
    return LatencySample(
        p50_ms=percentile(kept, 0.50) / 1e6,
        p99_ms=percentile(kept, 0.99) / 1e6,
        max_ms=kept[-1] / 1e6,
        samples=len(kept),
        lost=total - len(latencies),
    )


def _send_paced(producer: Producer, total: int, rate: int) -> None:
    """Sends one message every 1/`rate` seconds, each carrying its send time."""
    interval = 1.0 / rate
    started = time.perf_counter()
    for i in range(total):
        delay = started + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.send(b"%d" % time.perf_counter_ns())


def _receive(consumer: Consumer, total: int, latencies: list[int]) -> None:
    for message in consumer:
        latencies.append(time.perf_counter_ns() - int(message.body))
        consumer.ack(message)
        if len(latencies) == total:
            consumer.stop()
