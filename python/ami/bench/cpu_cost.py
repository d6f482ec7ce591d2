"""Client CPU per message: user+sys time of a process that only produces or only consumes.

Each case runs in a fresh interpreter (``python -m ami.bench.cpu_child``), so one
client's threads, imports and garbage never count toward another's. The child reads
``getrusage(RUSAGE_SELF)`` (every thread of the process, the client library's own
included) just before its first command and again once the last message is confirmed:
starting the interpreter, importing and connecting are left out. This is the cost that
stays when the servers run on other machines, where the client's cores are the limit.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.util import find_spec
from types import TracebackType

from ami.bench.config import CPU_PAIRS, Case, Workload


class CpuCostError(RuntimeError):
    """The measuring process failed or reported nothing."""


@dataclass(frozen=True)
class CpuSample:
    """One measured run of a case.

    Attributes:
        messages: Messages moved.
        cpu_seconds: User plus system time of the whole client process, every thread.
        wall_seconds: Elapsed time of the same span.
    """

    messages: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def us_per_message(self) -> float:
        """Client CPU microseconds per message."""
        return 1e6 * self.cpu_seconds / max(self.messages, 1)

    @property
    def msg_per_s(self) -> float:
        """Messages per second of wall time."""
        return self.messages / max(self.wall_seconds, 1e-9)


def process_cpu_seconds() -> float:
    """User plus system time of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Stopwatch:
    """Process CPU and wall time of the ``with`` block."""

    def __enter__(self) -> Stopwatch:
        self.cpu_seconds = self.wall_seconds = 0.0
        self._cpu = process_cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall_seconds = time.perf_counter() - self._wall
        self.cpu_seconds = process_cpu_seconds() - self._cpu

    def sample(self, messages: int) -> CpuSample:
        """The block's times as a sample of `messages` messages."""
        return CpuSample(messages, self.cpu_seconds, self.wall_seconds)


def glide_installed() -> bool:
    """Whether the valkey-glide client (module ``glide``) can be imported."""
    return find_spec("glide") is not None


def redis_py_parser() -> str:
    """How redis-py parses replies here: with ``"hiredis"`` (when installed) or in
    ``"pure Python"``; its CPU per message depends on it."""
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        return "not installed"
    return "hiredis" if HIREDIS_AVAILABLE else "pure Python"


def cpu_pairs() -> tuple[tuple[Case, Case | None], ...]:
    """`config.CPU_PAIRS`, without valkey-glide's when it is not installed."""
    if glide_installed():
        return CPU_PAIRS
    return tuple(pair for pair in CPU_PAIRS if pair[0].client != "valkey-glide")


def measure_cpu(
    case: Case, nodes: list[str], queue: str, workload: Workload, timeout: float = 300
) -> CpuSample:
    """Runs `case` in a child interpreter.

    Args:
        case: One of `config.CPU_PAIRS`; a consume case drains what its producer wrote.
        nodes: Seed nodes.
        queue: The queue to fill or drain.
        workload: Body and message count.
        timeout: Seconds the child may take.

    Returns:
        What the child measured.

    Raises:
        CpuCostError: The child failed.
    """
    command = [
        sys.executable, "-m", "ami.bench.cpu_child", case.key,
        "--nodes", ",".join(nodes), "--queue", queue,
        "--messages", str(workload.messages), "--body-size", str(workload.body_size),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        raise CpuCostError(f"{case.client} {case.label} exited {done.returncode}: {lines[-1]}")
    try:
        return CpuSample(**json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError) as exc:
        raise CpuCostError(f"{case.client} {case.label} printed {done.stdout!r}") from exc
