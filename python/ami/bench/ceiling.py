"""The server's ceiling: ``redis-benchmark`` sending pipelined XADDs from many clients."""

from __future__ import annotations

import shutil
import subprocess
import uuid

from ami.bench.admin import Admin
from ami.bench.config import Workload

PIPELINE = 100
CLIENTS = 50
# rps, avg, min, p50, p95, p99 and max latency follow the test name in --csv output.
_NUMERIC_FIELDS = 7


class CeilingError(RuntimeError):
    """redis-benchmark failed or printed something unexpected."""


def redis_benchmark_binary() -> str | None:
    """The ``redis-benchmark`` on PATH, or None."""
    return shutil.which("redis-benchmark")


def redis_benchmark_version(binary: str) -> str:
    """What ``redis-benchmark --version`` prints, or ``"?"``."""
    try:
        done = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.strip() or "?"


def measure_ceiling(binary: str, seed: str, admin: Admin, workload: Workload) -> float:
    """Runs pipelined XADDs of the workload's body over the whole cluster.

    In cluster mode redis-benchmark replaces ``{tag}`` with a hash tag of each master and
    spreads its clients over them, so every master gets one stream.

    Args:
        binary: Path of redis-benchmark.
        seed: Any master, ``host:port``.
        admin: Client used to delete the streams afterwards.
        workload: Body and number of XADDs.

    Returns:
        XADDs per second, as redis-benchmark reports them.

    Raises:
        CeilingError: redis-benchmark failed or its output could not be read.
    """
    prefix = f"bench_ceiling_{uuid.uuid4().hex[:10]}"
    host, port = seed.rsplit(":", 1)
    command = [
        binary, "--cluster", "-h", host, "-p", port,
        "-P", str(PIPELINE), "-c", str(CLIENTS), "-n", str(workload.messages), "--csv",
        "XADD", f"{prefix}:{{tag}}", "*", "m", workload.body.decode(),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CeilingError(f"redis-benchmark did not run: {exc}") from exc
    finally:
        admin.delete_matching(f"{prefix}:*")
    if done.returncode != 0:
        raise CeilingError(f"redis-benchmark exited {done.returncode}: {done.stderr.strip()}")
    return parse_csv_rps(done.stdout)


def parse_csv_rps(output: str) -> float:
    """The requests per second in redis-benchmark's ``--csv`` output.

    The test name is the command line, unquoted inside its quotes (bodies may hold
    ``"`` and ``,``), so the row is read from the right: seven numeric fields follow it.

    Raises:
        CeilingError: No row with a positive rate was found.
    """
    for line in output.splitlines():
        fields = line.rsplit(",", _NUMERIC_FIELDS)
        if len(fields) <= _NUMERIC_FIELDS or line.startswith('"test"'):
            continue
        try:
            rate = float(fields[1].strip('"'))
        except ValueError:
            continue
        if rate > 0:
            return rate
    raise CeilingError(f"no rate in redis-benchmark output: {output.strip()[-200:]!r}")
