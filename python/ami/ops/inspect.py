"""Queue observability: lengths, pending entries, lag and consumers of every shard.

`inspect` reads what Redis already tracks (``XLEN``, ``XINFO GROUPS``, ``XINFO
CONSUMERS``, ``XPENDING``) without consuming anything, so it is safe to run against a
live queue::

    stats = ami.inspect("orders", nodes="127.0.0.1:7001")
    print(stats.length, stats.pending, stats.lag)
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ami import _ami
from ami.ops._admin import open_admin

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from ami._ami import _GroupRow, _ShardRow
    from ami._options import ConnectionOptions, Layout

__all__ = ["ConsumerStats", "QueueStats", "ShardStats", "inspect"]


@dataclass(frozen=True)
class ConsumerStats:
    """One consumer of the group.

    Attributes:
        name: The consumer name.
        pending: Entries delivered to it and not acknowledged yet.
        idle: Seconds since it last read or acknowledged (across shards: the least).
    """

    name: str
    pending: int
    idle: float


@dataclass(frozen=True)
class ShardStats:
    """One shard stream of a queue.

    Attributes:
        stream: The stream key, ``qu{i}_NAME`` (``qu{TAG}_NAME`` in the spread layout).
        length: Entries in the stream (acknowledged entries are deleted by ami).
        pending: Entries delivered and not acknowledged yet.
        lag: Entries not delivered to the group yet; None when unknown.
        last_delivered_id: The group's last delivered id; None without a group.
        consumers: The group's consumers on this shard.
        oldest_pending_age: Seconds since the oldest pending entry was added (by the
            server's clock); None when nothing is pending.
        dead_letters: Entries in the dead-letter stream ``qu{i}:dlq:NAME``.
        master: The master holding the stream, ``host:port``; None when the cluster's
            slot map could not be read.
    """

    stream: str
    length: int
    pending: int
    lag: int | None
    last_delivered_id: str | None
    consumers: list[ConsumerStats]
    oldest_pending_age: float | None
    dead_letters: int = 0
    master: str | None = None


@dataclass(frozen=True)
class QueueStats:
    """A queue across all its shards.

    Attributes:
        name: The queue name.
        group: The consumer group, ``qu_NAME_group``.
        shards: Per-shard details, in shard order.
        length: Entries in all shards.
        pending: Entries delivered and not acknowledged yet.
        lag: Entries not delivered yet; None if unknown for any shard.
        dead_letters: Entries in the dead-letter streams.
        consumers: Consumers summed over the shards (idle: the least), by name.
        oldest_pending_age: Age in seconds of the oldest pending entry; None if none.
        exists: False when the queue left no trace: no recorded shard count, no shard
            stream, no dead letters.
        layout: Where the shards sit, ``"go"`` or ``"spread"`` (see `ami.ClientOptions`).
        offset: In the spread layout, the slot of shard 0 as the queue records it
            (chosen when the queue was created); None in the Go layout.
    """

    name: str
    group: str
    shards: list[ShardStats]
    length: int
    pending: int
    lag: int | None
    dead_letters: int
    consumers: list[ConsumerStats]
    oldest_pending_age: float | None = None
    exists: bool = True
    layout: Layout = "go"
    offset: int | None = None

    def masters(self) -> dict[str, list[int]]:
        """Which shards each master holds.

        Returns:
            ``host:port`` -> shard indexes, masters in address order; shards whose
            master is unknown under ``"?"``.
        """
        held: dict[str, list[int]] = {}
        for index, shard in enumerate(self.shards):
            held.setdefault(shard.master or "?", []).append(index)
        return dict(sorted(held.items()))

    def to_dict(self) -> dict[str, Any]:
        """The stats as plain dicts, lists and numbers, ready for `json.dumps`.

        Returns:
            A dict with the same keys as the attributes.
        """
        return dataclasses.asdict(self)


def inspect(
    name: str,
    *,
    shards: int | None = None,
    layout: Layout | None = None,
    **options: Unpack[ConnectionOptions],
) -> QueueStats:
    """Read the state of queue `name` without consuming from it.

    A missing stream or consumer group counts as empty: it is not an error.

    Args:
        name: The queue name.
        shards: The queue's number of shards; None takes the count its clients
            recorded (10 when none is recorded). A count other than the recorded one
            is refused, as it is for producers and consumers.
        layout: The queue's layout, ``"go"`` or ``"spread"``; None takes the one its
            clients recorded (``"go"`` when none is recorded); another one is refused.
        **options: How to connect: `nodes`, timeouts, TLS, `username`, `password`, as
            for `ami.Producer` (see `ami.ConnectionOptions`).

    Returns:
        The per-shard and total stats.

    Raises:
        ConfigError: `name`, `shards` or an option is invalid, or `shards` or `layout`
            differs from the recorded one.
        ConnectError: The cluster could not be reached.
        ServerError: Redis refused a command, e.g. a shard key is not a stream.
    """
    admin = open_admin(name, shards, layout, **options)
    try:
        rows = admin.shard_stats()
        exists = admin.exists()
        queue_layout = admin.layout
        offset = admin.offset
    finally:
        admin.close()
    stats = _total(name, _ami.group_name(name), [_shard(row) for row in rows], exists)
    return dataclasses.replace(stats, layout=queue_layout, offset=offset)


def _shard(row: _ShardRow) -> ShardStats:
    stream, length, dead_letters, group, master = row
    if group is None:
        return ShardStats(stream, length, 0, 0, None, [], None, dead_letters, master)
    return _shard_with_group(stream, length, dead_letters, group, master)


def _shard_with_group(
    stream: str, length: int, dead_letters: int, group: _GroupRow, master: str | None
) -> ShardStats:
    last_delivered, pending, lag, oldest_age_ms, consumers = group
    return ShardStats(
        stream=stream,
        length=length,
        pending=pending,
        lag=lag,
        last_delivered_id=last_delivered,
        consumers=[
            ConsumerStats(name, count, idle_ms / 1000) for name, count, idle_ms in consumers
        ],
        oldest_pending_age=None if oldest_age_ms is None else oldest_age_ms / 1000,
        dead_letters=dead_letters,
        master=master,
    )


def _total(name: str, group: str, shards: list[ShardStats], exists: bool) -> QueueStats:
    lags = [shard.lag for shard in shards]
    ages = [shard.oldest_pending_age for shard in shards if shard.oldest_pending_age is not None]
    return QueueStats(
        name=name,
        group=group,
        shards=shards,
        length=sum(shard.length for shard in shards),
        pending=sum(shard.pending for shard in shards),
        lag=None if None in lags else sum(lag for lag in lags if lag is not None),
        dead_letters=sum(shard.dead_letters for shard in shards),
        consumers=_merge_consumers(shards),
        oldest_pending_age=max(ages, default=None),
        exists=exists,
    )


def _merge_consumers(shards: list[ShardStats]) -> list[ConsumerStats]:
    merged: dict[str, ConsumerStats] = {}
    for consumer in (c for shard in shards for c in shard.consumers):
        seen = merged.get(consumer.name)
        merged[consumer.name] = (
            consumer
            if seen is None
            else ConsumerStats(
                consumer.name, seen.pending + consumer.pending, min(seen.idle, consumer.idle)
            )
        )
    return [merged[name] for name in sorted(merged)]
