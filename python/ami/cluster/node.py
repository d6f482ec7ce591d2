"""Node records shared by the launcher modules: a node's status, its bookkeeping, and its
entry in a state file."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Every module logs as the package, ``ami.cluster``, the logger name users configure.
log = logging.getLogger(__name__.rpartition(".")[0])

_POLL_INTERVAL = 0.05
_STOP_TIMEOUT = 5.0
_CONNECT_TIMEOUT = 2.0
_LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class NodeStatus:
    """Live status of one node, as reported by :meth:`LocalCluster.status`.

    Attributes:
        address: ``host:port`` of the node.
        role: ``"master"`` or ``"replica"`` as reported by the node itself, or the
            configured role followed by ``"?"`` when the node cannot be queried.
        pid: Process id of the server.
        alive: Whether the process is still running.
        cluster_state: ``cluster_state`` from ``CLUSTER INFO`` (``"ok"``/``"fail"``), or
            ``"down"``/``"unreachable"`` when it cannot be queried.
    """

    address: str
    role: str
    pid: int
    alive: bool
    cluster_state: str


@dataclass
class _Node:
    host: str
    port: int
    role: str
    dir: str
    pid: int = 0
    node_id: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self.dir) / "node.log"

    def to_dict(self) -> dict[str, Any]:
        """This node's entry in :meth:`LocalCluster.to_dict`; the process handle stays out."""
        return {
            "address": self.address,
            "port": self.port,
            "pid": self.pid,
            "role": self.role,
            "node_id": self.node_id,
            "dir": self.dir,
        }

    @classmethod
    def from_dict(cls, item: dict[str, Any], host: str) -> _Node:
        """Read an entry written by :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: If ``item`` is not such an entry.
        """
        role = str(item["role"])
        if role not in ("master", "replica"):
            raise ValueError(f"unknown node role {role!r}")
        return cls(
            host=host,
            port=int(item["port"]),
            role=role,
            dir=str(item["dir"]),
            pid=int(item["pid"]),
            node_id=str(item.get("node_id", "")),
        )


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(cannot read log: {exc})"
    return "\n".join(content[-lines:]) or "(empty log)"
