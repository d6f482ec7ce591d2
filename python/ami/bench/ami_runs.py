"""ami's producer and consumer, each way a caller would use them.

Producers are timed from the first send until `flush` confirms every message;
consumers from construction until `flush` confirms every ack. Both use the defaults
except `prefetch_count`, which matches the baseline's XREADGROUP COUNT.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ami._consumer import Consumer
from ami._producer import Producer
from ami.bench.config import SHARDS, Workload

CHUNK = 10_000
PREFETCH = 1_000
CONSUMER = "bench"
# A measurement that stalls this long fails instead of hanging the whole run.
IDLE_TIMEOUT = 30.0

OnProgress = Callable[[int, int], None]


class AmiRunError(RuntimeError):
    """Fewer messages arrived than were sent."""


def produce_send(
    nodes: list[str], queue: str, workload: Workload, on_progress: OnProgress
) -> float:
    """Sends the workload one `send` call per message.

    Returns:
        Seconds from the first send until every message is confirmed.
    """
    body, total = workload.body, workload.messages
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        send = producer.send
        started = time.perf_counter()
        for start in range(0, total, CHUNK):
            count = min(CHUNK, total - start)
            for _ in range(count):
                send(body)
            on_progress(start + count, total)
        producer.flush()
        return time.perf_counter() - started


def produce_send_many(
    nodes: list[str], queue: str, workload: Workload, on_progress: OnProgress
) -> float:
    """Sends the workload with `send_many` in chunks of `CHUNK`.

    Returns:
        Seconds from the first send until every message is confirmed.
    """
    body, total = workload.body, workload.messages
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        started = time.perf_counter()
        for start in range(0, total, CHUNK):
            count = min(CHUNK, total - start)
            producer.send_many([body] * count)
            on_progress(start + count, total)
        producer.flush()
        return time.perf_counter() - started


def consume_iterate(nodes: list[str], queue: str, total: int, on_progress: OnProgress) -> float:
    """Iterates the consumer and acks each message with `ack`.

    Returns:
        Seconds from creating the consumer until every ack is written.

    Raises:
        AmiRunError: Messages stopped arriving before `total`.
    """
    started = time.perf_counter()
    with Consumer(
        queue, consumer=CONSUMER, nodes=nodes, shards=SHARDS, prefetch_count=PREFETCH
    ) as consumer:
        received = 0
        watchdog = _Watchdog(consumer.stop)
        try:
            for message in consumer:
                consumer.ack(message)
                received += 1
                if received % CHUNK == 0:
                    watchdog.feed()
                    on_progress(received, total)
                if received == total:
                    consumer.stop()
        finally:
            watchdog.cancel()
        if received < total:
            raise AmiRunError(f"ami iteration got {received:,} of {total:,} messages")
        consumer.flush()
        return time.perf_counter() - started


def consume_many(
    nodes: list[str], queue: str, total: int, on_progress: OnProgress, *, trim_acked: bool = True
) -> float:
    """Takes batches with `consume(CHUNK)` and acks them with `ack_many`.

    Args:
        trim_acked: The consumer option: False deletes acked entries with plain XDEL.

    Returns:
        Seconds from creating the consumer until every ack is written.

    Raises:
        AmiRunError: Messages stopped arriving before `total`.
    """
    started = time.perf_counter()
    with Consumer(
        queue,
        consumer=CONSUMER,
        nodes=nodes,
        shards=SHARDS,
        prefetch_count=PREFETCH,
        trim_acked=trim_acked,
    ) as consumer:
        consume_and_ack(consumer, total, on_progress)
        return time.perf_counter() - started


def consume_and_ack(consumer: Consumer, total: int, on_progress: OnProgress | None = None) -> None:
    """Takes `total` messages with `consume(CHUNK)`, acks each batch with `ack_many`,
    and waits until every ack is written.

    Raises:
        AmiRunError: Messages stopped arriving before `total`.
    """
    received = 0
    while received < total:
        batch = consumer.consume(min(CHUNK, total - received), timeout=IDLE_TIMEOUT)
        if not batch:
            raise AmiRunError(f"ami consume() got {received:,} of {total:,} messages")
        consumer.ack_many(batch)
        received += len(batch)
        if on_progress is not None:
            on_progress(received, total)
    consumer.flush()


class _Watchdog:
    """Calls `on_stall` once `feed` has not been called for `IDLE_TIMEOUT` seconds."""

    def __init__(self, on_stall: Callable[[], None]) -> None:
        self._on_stall = on_stall
        self._fed = time.monotonic()
        self._cancelled = threading.Event()
        threading.Thread(target=self._watch, name="bench-watchdog", daemon=True).start()

    def feed(self) -> None:
        self._fed = time.monotonic()

    def cancel(self) -> None:
        self._cancelled.set()

    def _watch(self) -> None:
        while not self._cancelled.wait(1.0):
            if time.monotonic() - self._fed > IDLE_TIMEOUT:
                self._on_stall()
                return
