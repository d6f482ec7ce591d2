"""Exits that lose nothing: producers left open are flushed when the interpreter exits,
and `shutdown_on_signals` turns SIGTERM into an ordinary exit that runs that flush and
every ``with`` block's `close`."""

from __future__ import annotations

import atexit
import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType
from typing import Protocol


class ClosesAtExit(Protocol):
    """What the exit needs of a producer that was not closed."""

    _exit_timeout: float

    def _close_at_exit(self, timeout: float) -> None: ...


# Strong references: a producer nobody closed keeps writing in the background even when
# the program dropped it, so the exit must still find it.
_open: set[ClosesAtExit] = set()
_lock = threading.Lock()


def track(producer: ClosesAtExit) -> None:
    """Remembers an open producer until it is closed, so the interpreter's exit can
    flush it."""
    with _lock:
        _open.add(producer)


def forget(producer: ClosesAtExit) -> None:
    with _lock:
        _open.discard(producer)


@atexit.register
def _flush_at_exit() -> None:
    with _lock:
        producers = list(_open)
    started = time.monotonic()
    for producer in producers:
        producer._close_at_exit(max(0.0, producer._exit_timeout - (time.monotonic() - started)))


def shutdown_on_signals(signals: Iterable[signal.Signals] = (signal.SIGTERM,)) -> None:
    """Makes `signals` end the program the way `sys.exit` does, so nothing buffered is lost.

    By default SIGTERM (how containers and service managers stop a process) kills the
    interpreter at once: messages a producer accepted but has not written are gone. With
    this call the first such signal raises `SystemExit` (status 128 + the signal number)
    in the main thread instead, so ``with`` blocks close their clients and producers left
    open are flushed at exit (each within its `exit_timeout`). A second signal kills
    the process at once, as before. SIGINT already raises `KeyboardInterrupt`, which
    unwinds the same way. Call it from the main thread; the ``ami`` command line does.

    Args:
        signals: The signals to handle.
    """
    for signum in signals:
        signal.signal(signum, _exit_on_signal)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)
    raise SystemExit(128 + signum)
