"""The state file of ``ami cluster up``: where a detached local cluster is recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..cluster import LocalCluster
from ..exceptions import ClusterError
from .errors import UsageError

DEFAULT_STATE_FILE = ".ami-cluster.json"


def load_cluster(state_file: Path, prog: str) -> LocalCluster:
    """The cluster recorded in a state file.

    Args:
        state_file: The file ``ami cluster up`` wrote.
        prog: The program name, for the hint how to start a cluster.

    Returns:
        The recorded cluster; its servers may or may not still run.

    Raises:
        UsageError: The file is missing, unreadable or not a cluster state file.
    """
    try:
        data = json.loads(state_file.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"no cluster state file at {state_file}; start one with '{prog} cluster up'"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read cluster state file {state_file}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{state_file} is not a cluster state file")
    try:
        return LocalCluster.from_dict(data)
    except ClusterError as exc:
        raise UsageError(f"{state_file}: {exc}") from None


def write_state(state_file: Path, data: dict[str, Any]) -> None:
    """Write a state file atomically: a reader sees the old content or the new one.

    Args:
        state_file: Where to write.
        data: What `LocalCluster.to_dict` returned.

    Raises:
        OSError: The file cannot be written.
    """
    tmp = state_file.with_name(state_file.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, state_file)
