"""Client memory: the resident size of a process holding many accepted, unwritten messages.

Measured in a fresh interpreter (``python -m ami.bench.rss_child``) so that nothing the
benchmark allocated before counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass


class RssError(RuntimeError):
    """The measuring process failed or reported nothing."""


@dataclass(frozen=True)
class RssSample:
    """Memory of the measuring process, in kB as /proc reports it.

    Attributes:
        baseline_kb: VmRSS with the producer connected, before any message.
        peak_kb: VmHWM after the messages were accepted.
        rss_kb: VmRSS after the messages were accepted.
        unwritten: Messages the producer still held (all of them, if nothing leaked out).
    """

    baseline_kb: int
    peak_kb: int
    rss_kb: int
    unwritten: int

    @property
    def peak_growth_mb(self) -> float:
        """Peak resident size above the baseline, in MB (10^6 bytes)."""
        return (self.peak_kb - self.baseline_kb) * 1024 / 1e6


def measure_rss(
    nodes: list[str], queue: str, messages: int, body_size: int, timeout: float = 300
) -> RssSample:
    """Runs the measurement in a child interpreter.

    Args:
        nodes: Seed nodes; the producer connects but writes nothing.
        queue: Queue name for the producer (nothing should reach it).
        messages: Messages to hold.
        body_size: Bytes per message.
        timeout: Seconds the child may take.

    Returns:
        What the child measured.

    Raises:
        RssError: The child failed.
    """
    command = [
        sys.executable, "-m", "ami.bench.rss_child",
        "--nodes", ",".join(nodes), "--queue", queue,
        "--messages", str(messages), "--body-size", str(body_size),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RssError(f"memory measurement exited {done.returncode}: {done.stderr.strip()}")
    try:
        return RssSample(**json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError) as exc:
        raise RssError(f"memory measurement printed {done.stdout!r}") from exc
