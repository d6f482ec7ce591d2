"""`run_worker`: a consume-handle-ack loop with concurrency, nack on failure and a
graceful drain on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from ami._async_consumer import AsyncConsumer
from ami._consumer import Consumer, Message
from ami._options import ConsumerOptions
from ami._worker_tracing import is_coroutine_callable, traced
from ami.exceptions import AmiError, ConfigError

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger("ami.worker")

Handler = (
    Callable[[Message], object]
    | Callable[[list[Message]], object]
    | Callable[[Message], Awaitable[object]]
    | Callable[[list[Message]], Awaitable[object]]
)

# Longest a wait lasts before the loop looks at the stop flag again.
_POLL = 0.25
# Most messages a single-handler worker takes from the prefetch at once, and how long
# handling one such batch may take before the next is made smaller.
_INLINE_BATCH = 1000
_INLINE_BUDGET = 0.05
DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Worker:
    """Runs `handler` on the messages of queue `name` until stopped; see `run_worker`."""

    def __init__(
        self,
        handler: Handler,
        name: str,
        *,
        consumer: str,
        concurrency: int = 1,
        batch: bool = False,
        batch_size: int = 100,
        trace: bool = False,
        tracer_provider: Any = None,
        **options: Unpack[ConsumerOptions],
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__name__}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(
                f"concurrency must be an int >= 1, got {concurrency!r}", "concurrency"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}", "batch_size")
        if options.get("claim_idle", 60.0) is None:
            raise ConfigError(
                "a worker nacks failed messages, which needs claim_idle (not None)", "claim_idle"
            )
        if not isinstance(trace, bool):
            raise ConfigError(f"trace must be a bool, got {trace!r}", "trace")
        if tracer_provider is not None and not trace:
            raise ConfigError("tracer_provider is only used with trace=True", "tracer_provider")
        if trace:
            handler = traced(handler, name, batch=batch, tracer_provider=tracer_provider)
        self.handler = handler
        self.name = name
        self.consumer = consumer
        self.concurrency = concurrency
        self.batch = batch
        self.batch_size = batch_size
        self._options = options
        self._stopping = threading.Event()
        self._stop_reading: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._counts = {"handled": 0, "failed": 0}

    @property
    def is_async(self) -> bool:
        """True when the handler is a coroutine function: it runs on an event loop."""
        return is_coroutine_callable(self.handler)

    def stop(self) -> None:
        """Begins the drain: stop reading, finish the handlers in flight, ack, close.
        Safe to call from any thread, and more than once."""
        self._stopping.set()
        self._stop_reading()

    def run(self, *, handle_signals: bool = True) -> dict[str, int]:
        """Consumes until `stop` (or SIGTERM/SIGINT), then drains; see `run_worker`."""
        with self._signals(handle_signals):
            if self.is_async:
                asyncio.run(self._run_async())
            else:
                self._run_sync()
        return self.stats()

    def stats(self) -> dict[str, int]:
        """``handled``: messages whose handler returned; ``failed``: those it raised for
        (each nacked)."""
        with self._lock:
            return dict(self._counts)

    # ------------------------------------------------------------------ sync handlers

    def _run_sync(self) -> None:
        with Consumer(self.name, consumer=self.consumer, **self._options) as consumer:
            self._stop_reading = consumer.stop
            if self._stopping.is_set():
                consumer.stop()
            if self.concurrency == 1:
                self._run_inline(consumer)
                return
            slots = threading.Semaphore(self.concurrency)
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="ami-worker") as pool:
                while not self._stopping.is_set():
                    free = _acquire_free(slots, self.concurrency)
                    if not free:
                        continue
                    units = list(self._units(consumer.consume(self._take(free), timeout=_POLL)))
                    for _ in range(free - len(units)):
                        slots.release()
                    for unit in units:
                        pool.submit(self._handle_in_slot, consumer, unit, slots)
            # Leaving the pool waited for every handler; leaving the consumer writes acks.

    def _run_inline(self, consumer: Consumer) -> None:
        """One handler at a time, on this thread, over batches of what the prefetch has:
        one crossing into the core per batch, not per message."""
        if self.batch:
            while not self._stopping.is_set():
                for unit in self._units(consumer.consume(self.batch_size, timeout=_POLL)):
                    self._handle(consumer, unit)
            return
        handler, ack, stopping = self.handler, consumer._core.ack, self._stopping
        take = 1
        while not stopping.is_set():
            batch = consumer.consume(take, timeout=_POLL)
            began = time.monotonic()
            handled = 0
            for index, message in enumerate(batch):
                if stopping.is_set():
                    # Never handed to the handler: back to the prefetch, which `close`
                    # hands back to the group without counting a delivery.
                    consumer._core.requeue(batch[index:])
                    break
                try:
                    handler(message)  # type: ignore[arg-type]
                except Exception:
                    self._failed([message])
                    _settle(functools.partial(consumer.nack, message), "nack", [message])
                    continue
                handled += 1
                try:
                    ack(message)
                except AmiError:
                    _log_settle_failure("ack", [message])
            self._count("handled", handled)
            # Messages taken out of the prefetch count as handed out, and claimers take
            # those held for `claim_idle`: take more only while a batch is handled fast.
            quick = time.monotonic() - began < _INLINE_BUDGET
            take = min(take * 2, _INLINE_BATCH) if quick else max(take // 2, 1)

    def _handle_in_slot(
        self, consumer: Consumer, unit: Message | list[Message], slots: threading.Semaphore
    ) -> None:
        try:
            self._handle(consumer, unit)
        except BaseException:
            # `sys.exit` in a handler thread: a future would keep it unseen. Nack, say so,
            # and drain, as the same call on the main thread would end the worker.
            messages = unit if isinstance(unit, list) else [unit]
            self._failed(messages)
            _settle(lambda: consumer.nack_many(messages), "nack", messages)
            logger.error("a handler raised outside Exception; the worker drains")
            self.stop()
        finally:
            slots.release()

    def _handle(self, consumer: Consumer, unit: Message | list[Message]) -> None:
        messages = unit if isinstance(unit, list) else [unit]
        try:
            self.handler(unit)  # type: ignore[arg-type]
        except Exception:
            self._failed(messages)
            _settle(lambda: consumer.nack_many(messages), "nack", messages)
            return
        self._count("handled", len(messages))
        _settle(lambda: consumer.ack_many(messages), "ack", messages)

    # ------------------------------------------------------------------ async handlers

    async def _run_async(self) -> None:
        async with AsyncConsumer(self.name, consumer=self.consumer, **self._options) as consumer:
            loop = asyncio.get_running_loop()

            def stop_reading() -> None:
                loop.call_soon_threadsafe(consumer.stop)

            self._stop_reading = stop_reading
            if self._stopping.is_set():
                consumer.stop()
            tasks: set[asyncio.Task[None]] = set()
            while not self._stopping.is_set():
                free = self.concurrency - len(tasks)
                if free <= 0:
                    await asyncio.wait(tasks, timeout=_POLL, return_when=asyncio.FIRST_COMPLETED)
                    continue
                batch = await consumer.consume(self._take(free), timeout=_POLL)
                for unit in self._units(batch):
                    task = asyncio.create_task(self._handle_async(consumer, unit))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            consumer.stop()
            if tasks:
                await asyncio.wait(tasks)

    async def _handle_async(self, consumer: AsyncConsumer, unit: Message | list[Message]) -> None:
        messages = unit if isinstance(unit, list) else [unit]
        try:
            await self.handler(unit)  # type: ignore[arg-type,misc]
        except Exception:
            self._failed(messages)
            try:
                await consumer.nack_many(messages)
            except AmiError:
                _log_settle_failure("nack", messages)
            return
        self._count("handled", len(messages))
        try:
            await consumer.ack_many(messages)
        except AmiError:
            _log_settle_failure("ack", messages)

    # ------------------------------------------------------------------ shared

    def _take(self, free: int) -> int:
        """How many messages to consume for `free` handler slots."""
        return free * self.batch_size if self.batch else free

    def _units(self, messages: list[Message]) -> Iterator[Message | list[Message]]:
        """What each handler call gets: a message, or a batch of up to `batch_size`."""
        if not self.batch:
            yield from messages
            return
        for start in range(0, len(messages), self.batch_size):
            yield messages[start : start + self.batch_size]

    def _failed(self, messages: list[Message]) -> None:
        self._count("failed", len(messages))
        first = messages[0]
        more = f" and {len(messages) - 1} more" if len(messages) > 1 else ""
        logger.exception(
            "handler %s failed on message %s of %s (delivery %d)%s; nacked",
            getattr(self.handler, "__qualname__", self.handler),
            first.id,
            first.stream,
            first.deliveries,
            more,
        )

    def _count(self, key: str, count: int) -> None:
        with self._lock:
            self._counts[key] += count

    @contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        """The first SIGTERM/SIGINT drains; a second one exits at once (status 128 + the
        signal): what was in flight stays pending and is delivered again."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.getsignal(signum) for signum in DRAIN_SIGNALS}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._stopping.is_set():
                logger.warning("second %s: exiting without draining", signal.Signals(signum).name)
                os._exit(128 + signum)
            logger.info("%s: draining", signal.Signals(signum).name)
            self.stop()

        for signum in DRAIN_SIGNALS:
            signal.signal(signum, on_signal)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def run_worker(
    handler: Handler,
    name: str,
    *,
    consumer: str,
    concurrency: int = 1,
    batch: bool = False,
    batch_size: int = 100,
    handle_signals: bool = True,
    trace: bool = False,
    tracer_provider: Any = None,
    **options: Unpack[ConsumerOptions],
) -> dict[str, int]:
    """Runs `handler` on every message of queue `name` until SIGTERM or SIGINT.

    Each message (or, with ``batch=True``, each list of up to `batch_size` messages) is
    passed to `handler`. When it returns, the messages are acked; when it raises, the
    exception is logged (logger ``ami.worker``, with the traceback) and the messages are
    nacked: delivered again, counting a delivery, and dead-lettered after
    `max_deliveries`. A handler's exception never stops the worker.

    The first SIGTERM or SIGINT drains: reading stops, the handlers in flight finish and
    are acked (or nacked), and the consumer closes, handing back what it read but never
    passed to a handler. Every message handed to `handler` is acked once or left pending
    for redelivery; none is lost. A second signal exits at once (status 128 + the
    signal): messages in flight stay pending and are delivered again.

    Args:
        handler: A function, or a coroutine function (run on an event loop), taking one
            `Message`, or a list of them with ``batch=True``.
        name: Queue name.
        consumer: This worker's consumer name; give a restarted worker the same name and
            it gets its unfinished messages back at once.
        concurrency: Handler calls in flight at once: threads for a function, tasks for
            a coroutine function.
        batch: Pass lists of messages instead of one message.
        batch_size: Most messages in one list.
        handle_signals: Install the SIGTERM/SIGINT handlers (only possible in the main
            thread); otherwise call `Worker.stop` to drain.
        trace: Run each handler call inside an OpenTelemetry span (needs the ``otel``
            extra): `ami.otel.process` for one message, a child of the span that sent
            it; with ``batch=True`` `ami.otel.process_batch`, one span per list with a
            link to each message's sending span. A handler's exception ends its span
            with status ERROR.
        tracer_provider: Where those spans go; the global provider by default.
        **options: `Consumer` options (`nodes`, `shards`, `claim_idle`,
            `max_deliveries`, ...).

    Returns:
        Counts: ``handled`` and ``failed`` messages.

    Raises:
        ConfigError: An option is invalid, `claim_idle` is None (a nack needs claims),
            or `trace` is asked for without OpenTelemetry installed.
        ConnectError: The cluster could not be reached.
    """
    worker = Worker(
        handler,
        name,
        consumer=consumer,
        concurrency=concurrency,
        batch=batch,
        batch_size=batch_size,
        trace=trace,
        tracer_provider=tracer_provider,
        **options,
    )
    return worker.run(handle_signals=handle_signals)


def _acquire_free(slots: threading.Semaphore, most: int) -> int:
    """Waits up to `_POLL` for one free slot, then takes every other free one."""
    if not slots.acquire(timeout=_POLL):
        return 0
    free = 1
    while free < most and slots.acquire(blocking=False):
        free += 1
    return free


def _settle(settle: Callable[[], Any], verb: str, messages: list[Message]) -> None:
    try:
        settle()
    except AmiError:
        _log_settle_failure(verb, messages)


def _log_settle_failure(verb: str, messages: list[Message]) -> None:
    # The messages stay pending: a consumer claims them after claim_idle.
    logger.exception("could not %s %d message(s); they stay pending", verb, len(messages))
