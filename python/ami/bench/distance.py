"""Produce and consume+ack rates with the servers at a distance, against loopback.

The same local cluster is measured first as it is (loopback), then through
`delay_proxy` with every node announcing the proxy's port, so every client connection
crosses it, redirects and the consumer's direct reads included. The proxy is measured at
0 ms too: that row is the proxy's own cost, which the rows at 1, 10 and 50 ms include.

Every row uses the default options and 16-byte bodies. The producer sends with
`send_many` in chunks of 10,000 and is timed from its first send until `flush`
confirms every message. The consumer takes `consume(10_000)` batches, acks each with
`ack_many`, and is timed from its first `consume` until `flush` confirms every ack;
starting a client costs a few round trips, which is left out of both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ami._consumer import Consumer
from ami._producer import Producer
from ami.bench.config import SHARDS
from ami.bench.delay_proxy import DelayProxy
from ami.cluster.announce import announcing
from ami.cluster.resp import connect

BODY = b"0123456789abcdef"
CHUNK = 10_000
CONSUMER = "distance"
# A row that stalls this long fails instead of hanging the whole run.
IDLE_TIMEOUT = 30.0
PINGS = 5


class DistanceError(RuntimeError):
    """Fewer messages arrived than were sent."""


@dataclass(frozen=True)
class DistanceSample:
    """One row of one run.

    Attributes:
        rtt_ms: Round trip the proxy adds; None for loopback without the proxy.
        ping_ms: Median round trip of a PING on this path, as measured.
        produce_msg_per_s: Rate of `send_many` until everything is confirmed.
        consume_msg_per_s: Rate of `consume` + `ack_many` until every ack is written.
    """

    rtt_ms: float | None
    ping_ms: float
    produce_msg_per_s: float
    consume_msg_per_s: float


@contextmanager
def at_distance(nodes: list[str]) -> Iterator[DelayProxy]:
    """A delay proxy in front of every node in `nodes`, which announce its ports.

    Args:
        nodes: Every node of a local cluster (they are reconfigured, then restored).

    Yields:
        The proxy at 0 ms; `DelayProxy.set_rtt` changes the delay, `seeds` are its nodes.
    """
    with DelayProxy(nodes) as proxy, announcing(proxy.ports):
        yield proxy


def measure_path(
    seeds: list[str], queue: str, messages: int, rtt_ms: float | None
) -> DistanceSample:
    """Produces `messages` into the fresh `queue` through `seeds`, then consumes them.

    Args:
        seeds: Nodes to connect to: the cluster's own, or the proxy's.
        queue: A queue name no one uses.
        messages: How many 16-byte messages to move.
        rtt_ms: The delay the proxy adds, for the record; None for no proxy.

    Returns:
        The rates measured.

    Raises:
        DistanceError: Messages stopped arriving before all of them were consumed.
    """
    return DistanceSample(
        rtt_ms=rtt_ms,
        ping_ms=_ping_ms(seeds[0]),
        produce_msg_per_s=messages / _produce(seeds, queue, messages),
        consume_msg_per_s=messages / _consume(seeds, queue, messages),
    )


def _ping_ms(seed: str) -> float:
    host, port = seed.rsplit(":", 1)
    with connect(host, int(port)) as conn:
        conn.command("PING")
        took = []
        for _ in range(PINGS):
            started = time.perf_counter()
            conn.command("PING")
            took.append(time.perf_counter() - started)
    return statistics.median(took) * 1000


def _produce(seeds: list[str], queue: str, messages: int) -> float:
    with Producer(queue, nodes=seeds, shards=SHARDS) as producer:
        started = time.perf_counter()
        for start in range(0, messages, CHUNK):
            producer.send_many([BODY] * min(CHUNK, messages - start))
        producer.flush()
        return time.perf_counter() - started


def _consume(seeds: list[str], queue: str, messages: int) -> float:
    with Consumer(queue, consumer=CONSUMER, nodes=seeds, shards=SHARDS) as consumer:
        started = time.perf_counter()
        received = 0
        while received < messages:
            batch = consumer.consume(CHUNK, timeout=IDLE_TIMEOUT)
            if not batch:
                raise DistanceError(f"consume() got {received:,} of {messages:,} messages")
            consumer.ack_many(batch)
            received += len(batch)
        consumer.flush()
        return time.perf_counter() - started
