"""valkey-glide, the other Rust-core client, speaking ami's wire format.

Its asyncio cluster client, used the way that is fastest for it (measured against its
sync client and against one batch at a time): one non-atomic `ClusterBatch` of `BATCH`
commands per stream, the batches of all shards in flight at once. The layout and the
reads are the redis-py baseline's: XADD round-robin over the shard streams;
XREADGROUP COUNT `BATCH` with the previous read's XACK and XDEL in the same batch.
"""

from __future__ import annotations

import asyncio

from glide import (
    ClusterBatch,
    GlideClusterClient,
    GlideClusterClientConfiguration,
    NodeAddress,
    StreamGroupOptions,
    StreamReadGroupOptions,
)

from ami.bench.admin import group_name, stream_names
from ami.bench.config import Workload
from ami.bench.cpu_cost import CpuSample, Stopwatch
from ami.bench.redis_py import BATCH, CONSUMER, BaselineError

REQUEST_TIMEOUT_MS = 30_000


def produce(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """Creates the group (untimed), then writes the workload in batches of `BATCH` XADD."""
    return asyncio.run(_produce(nodes, queue, workload))


def consume(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """Reads and acks (XACK + XDEL) `workload.messages` messages through the group.

    Raises:
        BaselineError: Every shard ran dry first.
    """
    return asyncio.run(_consume(nodes, queue, workload.messages))


async def _connect(nodes: list[str]) -> GlideClusterClient:
    addresses = [NodeAddress(host, int(port)) for host, port in (n.rsplit(":", 1) for n in nodes)]
    config = GlideClusterClientConfiguration(addresses, request_timeout=REQUEST_TIMEOUT_MS)
    return await GlideClusterClient.create(config)


async def _produce(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    client = await _connect(nodes)
    try:
        streams, group = stream_names(queue), group_name(queue)
        for stream in streams:
            await client.xgroup_create(stream, group, "$", StreamGroupOptions(make_stream=True))
        body, total = workload.body, workload.messages
        with Stopwatch() as watch:
            sent = 0
            while sent < total:
                counts = [min(BATCH, max(0, total - sent - i * BATCH)) for i in range(len(streams))]
                await asyncio.gather(
                    *(_add(client, s, body, n) for s, n in zip(streams, counts, strict=True) if n)
                )
                sent += sum(counts)
        return watch.sample(total)
    finally:
        await client.close()


async def _add(client: GlideClusterClient, stream: str, body: bytes, count: int) -> None:
    batch = ClusterBatch(is_atomic=False)
    for _ in range(count):
        batch.xadd(stream, [("m", body)])
    await client.exec(batch, raise_on_error=True)


async def _consume(nodes: list[str], queue: str, total: int) -> CpuSample:
    client = await _connect(nodes)
    try:
        streams, group = stream_names(queue), group_name(queue)
        unacked: dict[str, list[bytes]] = {stream: [] for stream in streams}
        with Stopwatch() as watch:
            received = 0
            while received < total:
                reads = (_read_and_ack(client, s, group, unacked) for s in streams)
                got = sum(await asyncio.gather(*reads))
                if got == 0:
                    raise BaselineError(f"valkey-glide read {received:,} of {total:,} messages")
                received += got
            await asyncio.gather(*(_ack(client, s, group, ids) for s, ids in unacked.items()))
        return watch.sample(total)
    finally:
        await client.close()


async def _read_and_ack(
    client: GlideClusterClient, stream: str, group: str, unacked: dict[str, list[bytes]]
) -> int:
    """Acks the previous read's ids and reads the next batch in one round trip."""
    batch = ClusterBatch(is_atomic=False)
    _add_acks(batch, stream, group, unacked[stream])
    batch.xreadgroup({stream: ">"}, group, CONSUMER, StreamReadGroupOptions(count=BATCH))
    replies = await client.exec(batch, raise_on_error=True)
    read = replies[-1] if replies else None
    # A reply maps stream -> {id: [[field, value], ...]}; None when nothing was new.
    entries = read.get(stream.encode()) if isinstance(read, dict) else None
    unacked[stream] = list(entries) if isinstance(entries, dict) else []
    return len(unacked[stream])


async def _ack(client: GlideClusterClient, stream: str, group: str, ids: list[bytes]) -> None:
    if ids:
        batch = ClusterBatch(is_atomic=False)
        _add_acks(batch, stream, group, ids)
        await client.exec(batch, raise_on_error=True)


def _add_acks(batch: ClusterBatch, stream: str, group: str, ids: list[bytes]) -> None:
    if ids:
        batch.xack(stream, group, list(ids))
        batch.xdel(stream, list(ids))
