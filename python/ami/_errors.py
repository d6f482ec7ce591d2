"""Delivery of background errors to `on_error`, from a thread of their own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from ami.exceptions import AmiError

logger = logging.getLogger("ami")

ErrorHandler = Callable[[AmiError], object]


class _ErrorSource(Protocol):
    def wait_errors(self, timeout: float) -> list[AmiError] | None: ...


def log_error(error: AmiError) -> None:
    """The default `on_error`: a warning on the ``ami`` logger."""
    logger.warning("%s: %s", type(error).__name__, error)


class ErrorPump:
    """Calls `handler` for each error the core reports, until the core is done.

    The core never calls Python from its own threads; this thread waits on it with the
    GIL released and runs the handler like any other Python code.
    """

    def __init__(self, source: _ErrorSource, handler: ErrorHandler | None) -> None:
        self._source = source
        self._handler = handler or log_error
        self._thread = threading.Thread(target=self._run, name="ami-errors", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (errors := self._source.wait_errors(0.25)) is not None:
            for error in errors:
                self.handle(error)

    def handle(self, error: AmiError) -> None:
        """Hands one error to the handler from the calling thread."""
        try:
            self._handler(error)
        except Exception:
            logger.exception("on_error handler raised")

    def join(self, timeout: float | None = None) -> None:
        """Waits for the remaining errors to be handled."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
