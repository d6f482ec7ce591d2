"""Delivery reports to `on_delivery`, from a thread of their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ami._ami import DeliveryReport

logger = logging.getLogger("ami")

DeliveryHandler = Callable[["DeliveryReport"], object]

# How often a report waiting for the event loop looks whether the loop is gone.
_LOOP_CHECK = 0.1


class _ReportSource(Protocol):
    def wait_reports(self, timeout: float) -> list[DeliveryReport] | None: ...
    def reports_handled(self) -> None: ...


class ReportPump:
    """Calls `handler` with each delivery report, until the producer's writer is done.

    The reports' messages count as unwritten until the handler returned (so `flush`
    waits for the handler, and a slow handler fills the buffer instead of memory).
    """

    def __init__(self, source: _ReportSource, handler: DeliveryHandler) -> None:
        self._source = source
        self._handler = handler
        self._thread = threading.Thread(target=self._run, name="ami-reports", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (reports := self._source.wait_reports(0.25)) is not None:
            for report in reports:
                try:
                    self._handler(report)
                except Exception:
                    logger.exception("on_delivery handler raised")
            self._source.reports_handled()

    def in_handler(self) -> bool:
        """True on the thread that runs the handler."""
        return self._thread is threading.current_thread()

    def join(self, timeout: float | None = None) -> None:
        """Waits for the remaining reports to be handled."""
        if not self.in_handler():
            self._thread.join(timeout)


def on_loop(
    loop: asyncio.AbstractEventLoop,
    handler: Callable[[DeliveryReport], object | Awaitable[object]],
) -> DeliveryHandler:
    """`handler` run on `loop` (awaited, if it returns an awaitable), from any thread.

    The calling thread waits until it is done, so reports keep their backpressure. Once
    the loop is closed, reports are dropped.
    """

    async def run(report: DeliveryReport) -> None:
        result = handler(report)
        if inspect.isawaitable(result):
            await result

    def call(report: DeliveryReport) -> None:
        if loop.is_closed():
            return
        try:
            done = asyncio.run_coroutine_threadsafe(run(report), loop)
        except RuntimeError:  # closed in between
            return
        while True:
            try:
                done.result(timeout=_LOOP_CHECK)
                return
            except concurrent.futures.TimeoutError:
                if loop.is_closed():
                    done.cancel()
                    return

    return call
