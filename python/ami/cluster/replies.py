"""Parsing server replies and the small queries built on them."""

from __future__ import annotations

from typing import Any

from .resp import RespConnection, RespError, connect


def _parse_info(reply: Any) -> dict[str, str]:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else ""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[key.strip()] = value.strip()
    return fields


def _known_node_ids(cluster_nodes_reply: Any) -> set[str]:
    """Node ids from ``CLUSTER NODES`` that completed the handshake."""
    text = cluster_nodes_reply.decode() if isinstance(cluster_nodes_reply, bytes) else ""
    ids = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not {"handshake", "noaddr"} & set(fields[2].split(",")):
            ids.add(fields[0])
    return ids


def _text(reply: Any) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _server_identity(conn: RespConnection) -> tuple[str, str]:
    """Return ``(server_name, version)``; Valkey reports a Redis-compatible
    ``redis_version`` too, but its own ``valkey_version`` is what users expect to see."""
    info = _parse_info(conn.command("INFO", "server"))
    name = info.get("server_name", "redis")
    return name, info.get(f"{name}_version") or info.get("redis_version", "")


def _query_role_and_state(host: str, port: int, configured_role: str) -> tuple[str, str]:
    try:
        with connect(host, port, 1.0) as conn:
            role = _parse_info(conn.command("INFO", "replication")).get("role", "?")
            state = _parse_info(conn.command("CLUSTER", "INFO")).get("cluster_state", "?")
    except (OSError, RespError):
        return f"{configured_role}?", "unreachable"
    return ("replica" if role == "slave" else role), state
