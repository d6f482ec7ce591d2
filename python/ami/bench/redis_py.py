"""The baseline: a careful hand-written redis-py client speaking ami's wire format.

Each pipeline goes to one stream, so it is sent straight to the master owning that
stream on a plain `redis.Redis` connection (``transaction=False``), skipping the
per-command slot lookups of redis-py's cluster pipeline. The consumer piggybacks the
XACK and XDEL of a shard's previous read on its next XREADGROUP: one round trip per
batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ami.bench.admin import Admin, group_name, stream_names
from ami.bench.config import SHARDS, Workload

BATCH = 1_000
CONSUMER = "bench"

OnProgress = Callable[[int, int], None]


class BaselineError(RuntimeError):
    """The baseline read fewer messages than were written."""


def produce(admin: Admin, queue: str, workload: Workload, on_progress: OnProgress) -> float:
    """Writes the workload with XADD pipelines of `BATCH`, round-robin over the shards.

    The group is created first (untimed), as ami's producer does at start.

    Args:
        admin: Cluster client.
        queue: Fresh queue name.
        workload: Body and message count.
        on_progress: Called with (messages written, total) after each pipeline.

    Returns:
        Seconds from the first XADD to the last reply.
    """
    admin.create_group(queue)
    streams = stream_names(queue)
    connections = [admin.node_connection(stream) for stream in streams]
    body, total = workload.body, workload.messages
    started = time.perf_counter()
    sent = 0
    shard = 0
    while sent < total:
        count = min(BATCH, total - sent)
        stream = streams[shard]
        pipe = connections[shard].pipeline(transaction=False)
        for _ in range(count):
            pipe.execute_command("XADD", stream, "*", "m", body)
        pipe.execute()
        sent += count
        shard = (shard + 1) % SHARDS
        on_progress(sent, total)
    return time.perf_counter() - started


def consume(admin: Admin, queue: str, total: int, on_progress: OnProgress) -> float:
    """Reads `total` messages through the group and acks them (XACK + XDEL).

    Args:
        admin: Cluster client.
        queue: Queue that `produce` filled.
        total: Messages to read.
        on_progress: Called with (messages read, total) after each read.

    Returns:
        Seconds from the first read to the last ack's reply.

    Raises:
        BaselineError: Every shard ran dry before `total` messages were read.
    """
    streams = stream_names(queue)
    group = group_name(queue)
    connections = [admin.node_connection(stream) for stream in streams]
    unacked: list[list[bytes]] = [[] for _ in streams]
    started = time.perf_counter()
    received = 0
    while received < total:
        got = 0
        for shard, stream in enumerate(streams):
            ids = _read_and_ack(connections[shard], stream, group, unacked[shard])
            unacked[shard] = ids
            got += len(ids)
        if got == 0:
            raise BaselineError(f"redis-py read {received:,} of {total:,} messages")
        received += got
        on_progress(received, total)
    for shard, stream in enumerate(streams):
        if unacked[shard]:
            _ack(connections[shard].pipeline(transaction=False), stream, group, unacked[shard])
    return time.perf_counter() - started


def _read_and_ack(connection: Any, stream: str, group: str, unacked: list[bytes]) -> list[bytes]:
    """Acks the previous read's ids and reads the next batch in one round trip."""
    pipe = connection.pipeline(transaction=False)
    if unacked:
        pipe.execute_command("XACK", stream, group, *unacked)
        pipe.execute_command("XDEL", stream, *unacked)
    pipe.execute_command(
        "XREADGROUP", "GROUP", group, CONSUMER, "COUNT", BATCH, "STREAMS", stream, ">"
    )
    return _entry_ids(pipe.execute()[-1])


def _ack(pipe: Any, stream: str, group: str, ids: list[bytes]) -> None:
    pipe.execute_command("XACK", stream, group, *ids)
    pipe.execute_command("XDEL", stream, *ids)
    pipe.execute()


def _entry_ids(reply: Any) -> list[bytes]:
    """Ids of an XREADGROUP reply as redis-py parses it: ``[[stream, [(id, fields)]]]``."""
    if not reply:
        return []
    return [entry[0] for _, entries in reply for entry in entries]
