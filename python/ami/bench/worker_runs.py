"""`ami.run_worker` with a handler that does nothing: what the runner itself costs per
message, next to the consumer driven by hand (`ami_runs`)."""

from __future__ import annotations

import time

from ami._consumer import Message
from ami._worker import Worker
from ami.bench.ami_runs import CHUNK, CONSUMER, PREFETCH, AmiRunError, OnProgress, _Watchdog
from ami.bench.config import SHARDS


def consume_worker(nodes: list[str], queue: str, total: int, on_progress: OnProgress) -> float:
    """Runs a worker (one handler call per message, concurrency 1) until `total`
    messages were handled, then lets it drain.

    Returns:
        Seconds from starting the worker until it closed, every ack written.

    Raises:
        AmiRunError: Messages stopped arriving before `total`.
    """
    handled = 0
    worker: Worker

    def handle(message: Message) -> None:
        nonlocal handled
        handled += 1
        if handled % CHUNK == 0:
            watchdog.feed()
            on_progress(handled, total)
        if handled == total:
            worker.stop()

    worker = Worker(
        handle, queue, consumer=CONSUMER, nodes=nodes, shards=SHARDS, prefetch_count=PREFETCH
    )
    watchdog = _Watchdog(worker.stop)
    started = time.perf_counter()
    try:
        worker.run(handle_signals=False)
    finally:
        watchdog.cancel()
    if handled < total:
        raise AmiRunError(f"ami run_worker handled {handled:,} of {total:,} messages")
    return time.perf_counter() - started
