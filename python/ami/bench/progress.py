"""Progress on stderr: a live line on a terminal, one line per finished step elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_REDRAW_SECONDS = 0.1


class Step:
    """One step being measured; `update` redraws its line on a terminal."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        self.label = label
        self.result = ""
        self.started = time.perf_counter()
        self._last_draw = 0.0

    def update(self, done: int, total: int) -> None:
        """Reports `done` of `total` messages; cheap enough to call every batch."""
        if not self._progress.tty:
            return
        now = time.perf_counter()
        if now - self._last_draw < _REDRAW_SECONDS:
            return
        self._last_draw = now
        rate = done / max(now - self.started, 1e-9)
        percent = 100 * done / max(total, 1)
        self._progress.draw(f"{self.label}  {percent:3.0f}%  {rate:,.0f} msg/s")


class Progress:
    """Numbers the steps of the run and shows which one is running.

    Args:
        total: Number of steps planned.
        out: Where to write; a terminal gets a redrawn line.
    """

    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.total = total
        self.out = out if out is not None else sys.stderr
        self.tty = self.out.isatty()
        self.done = 0
        self.started = time.perf_counter()

    @contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """Runs one step; set `Step.result` to what its line should end with."""
        self.done += 1
        step = Step(self, label)
        self.draw(f"{label} ...")
        try:
            yield step
        except BaseException:
            self.finish(f"{label}: failed after {time.perf_counter() - step.started:.1f} s")
            raise
        self.finish(f"{label}: {step.result} ({time.perf_counter() - step.started:.1f} s)")

    def note(self, text: str) -> None:
        """Prints a line that is not a step (cluster start, skipped measurements)."""
        self._write(f"{text}\n")

    def draw(self, text: str) -> None:
        """Shows `text` as the current step's line (terminal only)."""
        if self.tty:
            self._write(f"\r\x1b[K{self._prefix()} {text}")

    def finish(self, text: str) -> None:
        """Ends the current step's line with `text`."""
        line = f"{self._prefix()} {text}\n"
        self._write(f"\r\x1b[K{line}" if self.tty else line)

    def _prefix(self) -> str:
        elapsed = int(time.perf_counter() - self.started)
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total} {elapsed // 60:d}:{elapsed % 60:02d}]"

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
