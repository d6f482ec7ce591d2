"""Hash slots: splitting them over masters, assigning them, and comparing slot maps."""

from __future__ import annotations

import math
from typing import Any

from .resp import RespConnection, RespError

TOTAL_SLOTS = 16384

_ADDSLOTS_CHUNK = 1000

SlotMap = list[tuple[int, int, str, frozenset[str]]]


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Split the 16384 hash slots over ``masters`` exactly like ``redis-cli --cluster create``.

    Args:
        masters: Number of masters (at least 1).

    Returns:
        One inclusive ``(first, last)`` slot range per master, contiguous and in order.
    """
    per_node = TOTAL_SLOTS / masters
    ranges = []
    first, cursor = 0, 0.0
    for index in range(masters):
        # redis-cli uses C lround(), which rounds halves away from zero (unlike round()).
        last = math.floor(cursor + per_node - 1 + 0.5)
        if last > TOTAL_SLOTS or index == masters - 1:
            last = TOTAL_SLOTS - 1
        last = max(last, first)
        ranges.append((first, last))
        first = last + 1
        cursor += per_node
    return ranges


def _slot_map(cluster_slots_reply: Any) -> SlotMap:
    """Normalize ``CLUSTER SLOTS`` to sorted ``(first, last, master_id, replica_ids)``."""
    entries = []
    for entry in cluster_slots_reply or []:
        first, last, master, *replicas = entry
        ids = frozenset(_entry_node_id(replica) for replica in replicas)
        entries.append((int(first), int(last), _entry_node_id(master), ids))
    return sorted(entries)


def _entry_node_id(node: Any) -> str:
    return node[2].decode() if len(node) > 2 and isinstance(node[2], bytes) else ""


def _add_slots(conn: RespConnection, first: int, last: int) -> None:
    try:
        conn.command("CLUSTER", "ADDSLOTSRANGE", first, last)
        return
    except RespError as exc:
        if "unknown" not in str(exc).lower():
            raise
    # Servers older than 7.0 lack ADDSLOTSRANGE.
    for start in range(first, last + 1, _ADDSLOTS_CHUNK):
        stop = min(start + _ADDSLOTS_CHUNK, last + 1)
        conn.command("CLUSTER", "ADDSLOTS", *range(start, stop))
