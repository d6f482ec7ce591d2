"""Cluster state files: what :meth:`LocalCluster.to_dict` writes and ``from_dict`` reads."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeVar

from ami.exceptions import ClusterError

from .node import _Node

if TYPE_CHECKING:
    from .local_cluster import LocalCluster

    _Cluster = TypeVar("_Cluster", bound=LocalCluster)

STATE_VERSION = 1
DATA_DIR_PREFIX = "ami-cluster-"


def state_to_dict(cluster: LocalCluster) -> dict[str, Any]:
    """The body of :meth:`LocalCluster.to_dict`."""
    return {
        "version": STATE_VERSION,
        "server": cluster.server,
        "server_name": cluster.server_name,
        "server_version": cluster.server_version,
        "host": cluster.host,
        "masters": cluster.masters,
        "replicas": cluster.replicas,
        "node_timeout_ms": cluster.node_timeout_ms,
        "data_dir": cluster.data_dir,
        "owns_data_dir": cluster._owns_data_dir,
        "seed": cluster.nodes[0] if cluster._nodes else None,
        "nodes": [_node_to_dict(node) for node in cluster._nodes],
    }


def cluster_from_state(cls: type[_Cluster], data: dict[str, Any]) -> _Cluster:
    """The body of :meth:`LocalCluster.from_dict`."""
    try:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {data.get('version')!r}")
        cluster = cls(
            masters=int(data["masters"]),
            replicas=int(data["replicas"]),
            server=data.get("server"),
            host=str(data["host"]),
            node_timeout_ms=int(data.get("node_timeout_ms", 2000)),
            data_dir=data.get("data_dir"),
            detach=True,
        )
        cluster._nodes = [_node_from_dict(item, cluster.host) for item in data["nodes"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ClusterError(f"invalid cluster state: {exc}") from exc
    cluster.server_name = str(data.get("server_name", ""))
    cluster.server_version = str(data.get("server_version", ""))
    # Never trust a state file to point rmtree at something we did not create.
    cluster._owns_data_dir = bool(data.get("owns_data_dir")) and os.path.basename(
        str(cluster.data_dir or "")
    ).startswith(DATA_DIR_PREFIX)
    cluster._started = True
    return cluster


def _node_to_dict(node: _Node) -> dict[str, Any]:
    return {
        "address": node.address,
        "port": node.port,
        "pid": node.pid,
        "role": node.role,
        "node_id": node.node_id,
        "dir": node.dir,
    }


def _node_from_dict(item: dict[str, Any], host: str) -> _Node:
    role = str(item["role"])
    if role not in ("master", "replica"):
        raise ValueError(f"unknown node role {role!r}")
    return _Node(
        host=host,
        port=int(item["port"]),
        role=role,
        dir=str(item["dir"]),
        pid=int(item["pid"]),
        node_id=str(item.get("node_id", "")),
    )
