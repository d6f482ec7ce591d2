"""Server processes: pid checks, the parent-death hook, and stopping clusters at exit."""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .binary import SERVER_NAMES
from .node import log

_PR_SET_PDEATHSIG = 1


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return _pid_exists(pid)
    # The command name (field 2) may contain spaces or parentheses; the state follows it.
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] not in ("Z", "X")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return _ps_command(pid)
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def _ps_command(pid: int) -> str | None:
    """Fallback for systems without procfs (macOS)."""
    try:
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def is_server_process(pid: int, port: int) -> bool:
    """Check that ``pid`` is still the Redis/Valkey server we started on ``port``.

    Guards against killing an unrelated process that reused the pid after a reboot or
    after the server exited.

    Args:
        pid: Process id recorded when the node was started.
        port: The node's client port.

    Returns:
        True if the process is alive and its command line names a redis/valkey server
        serving ``port`` (server title ``... 127.0.0.1:PORT [cluster]``, or our per-node
        config path before the server has retitled itself).
    """
    if pid <= 0 or not _pid_alive(pid):
        return False
    cmdline = _process_cmdline(pid)
    if not cmdline:
        return False
    program = os.path.basename(cmdline.split(" ", 1)[0])
    if not any(name in program for name in SERVER_NAMES):
        return False
    return f":{port} " in f"{cmdline} " or f"node-{port}" in cmdline


def _parent_death_hook() -> Callable[[], None] | None:
    """Build a ``preexec_fn`` making the kernel SIGKILL the server if this process dies.

    atexit handlers do not run when the launcher is SIGKILLed (e.g. by a CI timeout), and
    orphaned servers would then linger forever. The signal fires when the *thread* that
    forked exits, so it is only used from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os._exit(1)

    return hook


class _Stoppable(Protocol):
    def stop(self) -> None: ...


# Clusters to stop at exit, so a forgotten stop() leaves no servers behind.
_live_clusters: set[_Stoppable] = set()
# Detached servers outlive their LocalCluster object; keeping their Popen handles stops
# the garbage collector from warning "subprocess is still running" for each of them.
_detached_processes: list[subprocess.Popen[bytes]] = []


@atexit.register
def _stop_live_clusters() -> None:
    for cluster in list(_live_clusters):
        try:
            cluster.stop()
        except Exception:
            log.exception("failed to stop local cluster at exit")
