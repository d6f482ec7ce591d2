"""Queue observability: lengths, pending entries, lag and consumers of every shard.

`inspect` reads what Redis already tracks (``XLEN``, ``XINFO GROUPS``, ``XINFO
CONSUMERS``, ``XPENDING``) without consuming anything, so it is safe to run against a
live queue::

    stats = ami.inspect("orders", nodes="127.0.0.1:7001", shards=10)
    print(stats.length, stats.pending, stats.lag)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._cluster_client import ClusterClient
from ._resp import Reply
from .exceptions import ConfigError, ServerError

__all__ = ["ConsumerStats", "QueueStats", "ShardStats", "inspect"]

MAX_NAME_LEN = 200
MAX_SHARDS = 127
# Above this many entries, estimating a missing lag by reading the stream costs too much.
LAG_SCAN_LIMIT = 10_000
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.:@-]")
_MAX_SEQ = 2**64 - 1


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
        stream: The stream key, ``qu{i}_NAME``.
        length: Entries in the stream (acknowledged entries are deleted by ami).
        pending: Entries delivered and not acknowledged yet.
        lag: Entries not delivered to the group yet; None when unknown.
        last_delivered_id: The group's last delivered id; None without a group.
        consumers: The group's consumers on this shard.
        oldest_pending_age: Seconds since the oldest pending entry was added (by the
            server's clock); None when nothing is pending.
        dead_letters: Entries in the dead-letter stream ``qu{i}:dlq:NAME``.
    """

    stream: str
    length: int
    pending: int
    lag: int | None
    last_delivered_id: str | None
    consumers: list[ConsumerStats]
    oldest_pending_age: float | None
    dead_letters: int = 0


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

    def to_dict(self) -> dict[str, Any]:
        """The stats as plain dicts, lists and numbers, ready for `json.dumps`.

        Returns:
            A dict with the same keys as the attributes.
        """
        return dataclasses.asdict(self)


def inspect(
    name: str, *, nodes: str | Iterable[str], shards: int = 10, timeout: float = 5.0
) -> QueueStats:
    """Read the state of queue `name` without consuming from it.

    A missing stream or consumer group counts as empty: it is not an error.

    Args:
        name: The queue name.
        nodes: Seed nodes: ``"host:port"`` strings, a comma-separated string, or
            ``redis://`` URLs. A standalone (non-cluster) server works too.
        shards: The queue's number of shards; must match its producers and consumers.
        timeout: Seconds for connecting and for each command.

    Returns:
        The per-shard and total stats.

    Raises:
        ConfigError: `name`, `shards` or `nodes` is invalid.
        ConnectError: The cluster could not be reached.
        ServerError: Redis refused a command, e.g. a shard key is not a stream.
    """
    validate_name(name)
    validate_shards(shards)
    group = group_name(name)
    with ClusterClient(nodes, timeout=timeout) as client:
        shard_stats = [
            _shard_stats(client, stream_name(name, shard), group) for shard in range(shards)
        ]
    return _total(name, group, shard_stats)


def stream_name(name: str, shard: int) -> str:
    """The stream of shard `shard` of queue `name`, as the Go ami names it.

    Args:
        name: The queue name.
        shard: The shard number, from 0.

    Returns:
        ``qu{<shard>}_<name>``.
    """
    return f"qu{{{shard}}}_{name}"


def group_name(name: str) -> str:
    """The consumer group every consumer of queue `name` shares.

    Args:
        name: The queue name.

    Returns:
        ``qu_<name>_group``.
    """
    return f"qu_{name}_group"


def dead_letter_stream(stream: str) -> str:
    """The dead-letter stream of a shard stream (same hash slot).

    Args:
        stream: A shard stream, ``qu{i}_NAME``.

    Returns:
        ``qu{i}:dlq:NAME``: the ``:`` after the hash tag keeps dead letters out of the
        queues' names (``qu{i}_...``), whatever a queue is called.
    """
    tag, name = stream.split("}_", 1)
    return f"{tag}}}:dlq:{name}"


def validate_name(name: str, option: str = "name") -> None:
    """Check a queue name with the rules of `ami.Producer` and `ami.Consumer`.

    Args:
        name: The name to check.
        option: The option named in the error.

    Raises:
        ConfigError: The name is empty, too long, or has a character other than ASCII
            letters, digits and ``_-.:@``.
    """
    if not name:
        raise ConfigError(f"invalid {option}: must not be empty", option)
    if len(name) > MAX_NAME_LEN:
        raise ConfigError(f"invalid {option}: must be at most {MAX_NAME_LEN} characters", option)
    bad = next((char for char in name if not _NAME_CHARS.fullmatch(char)), None)
    if bad is not None:
        raise ConfigError(
            f"invalid {option}: {name!r} contains {bad!r}; "
            "allowed are ASCII letters, digits and _-.:@",
            option,
        )


def validate_shards(shards: int) -> None:
    """Check a shard count with the rules of `ami.Producer` and `ami.Consumer`.

    Args:
        shards: The number of shards.

    Raises:
        ConfigError: `shards` is not between 1 and 127.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ConfigError(
            f"invalid shards: must be between 1 and {MAX_SHARDS}, got {shards!r}", "shards"
        )


# --------------------------------------------------------------------------- one shard


def _shard_stats(client: ClusterClient, stream: str, group: str) -> ShardStats:
    length = _as_int(client.command(stream, "XLEN", stream))
    dead_letters = _as_int(client.command(stream, "XLEN", dead_letter_stream(stream)))
    info = _group_info(client, stream, group)
    if info is None:
        return ShardStats(stream, length, 0, 0, None, [], None, dead_letters)
    last_delivered = _as_str(info.get("last-delivered-id")) or "0-0"
    pending, oldest_id = _pending_summary(client, stream, group)
    return ShardStats(
        stream=stream,
        length=length,
        pending=pending,
        lag=_lag(client, stream, info.get("lag"), last_delivered, length),
        last_delivered_id=last_delivered,
        consumers=_consumers(client, stream, group),
        oldest_pending_age=_age(client, stream, oldest_id),
        dead_letters=dead_letters,
    )


def _group_info(client: ClusterClient, stream: str, group: str) -> dict[str, Reply] | None:
    """The ``XINFO GROUPS`` fields of `group`; None if the stream or group is missing."""
    try:
        groups = client.command(stream, "XINFO", "GROUPS", stream)
    except ServerError as exc:
        if _is_missing(exc):
            return None
        raise
    for entry in groups if isinstance(groups, list) else []:
        fields = _pairs(entry)
        if _as_str(fields.get("name")) == group:
            return fields
    return None


def _consumers(client: ClusterClient, stream: str, group: str) -> list[ConsumerStats]:
    try:
        reply = client.command(stream, "XINFO", "CONSUMERS", stream, group)
    except ServerError as exc:
        if _is_missing(exc):
            return []
        raise
    consumers = []
    for entry in reply if isinstance(reply, list) else []:
        fields = _pairs(entry)
        consumers.append(
            ConsumerStats(
                name=_as_str(fields.get("name")) or "",
                pending=_as_int(fields.get("pending")),
                idle=_as_int(fields.get("idle")) / 1000,
            )
        )
    return consumers


def _pending_summary(client: ClusterClient, stream: str, group: str) -> tuple[int, str | None]:
    """``(count, oldest pending id)`` from the summary form of ``XPENDING``."""
    try:
        reply = client.command(stream, "XPENDING", stream, group)
    except ServerError as exc:
        if _is_missing(exc):
            return 0, None
        raise
    if not isinstance(reply, list) or len(reply) < 2:
        return 0, None
    return _as_int(reply[0]), _as_str(reply[1])


def _lag(
    client: ClusterClient, stream: str, reported: Reply, last_delivered: str, length: int
) -> int | None:
    # Redis 7.0+ reports the lag, but nil when entries were deleted or trimmed in a way
    # it cannot account for; older servers have no lag field at all.
    if isinstance(reported, int):
        return reported
    if length > LAG_SCAN_LIMIT:
        return None
    # "(id" needs Redis 6.2+; the next possible id works everywhere.
    start = _next_id(last_delivered)
    entries = client.command(stream, "XRANGE", stream, start, "+", "COUNT", LAG_SCAN_LIMIT + 1)
    count = len(entries) if isinstance(entries, list) else 0
    return count if count <= LAG_SCAN_LIMIT else None


def _age(client: ClusterClient, stream: str, entry_id: str | None) -> float | None:
    """Seconds since `entry_id` was generated, by the clock of the server that made it."""
    if entry_id is None:
        return None
    reply = client.command(stream, "TIME")
    if not isinstance(reply, list) or len(reply) != 2:
        return None
    now_ms = _as_int(reply[0]) * 1000 + _as_int(reply[1]) // 1000
    return max(0, now_ms - _id_millis(entry_id)) / 1000


def _next_id(entry_id: str) -> str:
    millis, _, seq = entry_id.partition("-")
    ms, sequence = int(millis), int(seq or 0)
    return f"{ms + 1}-0" if sequence >= _MAX_SEQ else f"{ms}-{sequence + 1}"


def _id_millis(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _is_missing(error: ServerError) -> bool:
    return error.code == "NOGROUP" or "no such key" in error.message.lower()


# --------------------------------------------------------------------------- totals


def _total(name: str, group: str, shards: list[ShardStats]) -> QueueStats:
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


# --------------------------------------------------------------------------- replies


def _pairs(reply: Reply) -> dict[str, Reply]:
    """A flat ``[key, value, key, value, ...]`` reply as a dict."""
    if not isinstance(reply, list):
        return {}
    return {_as_str(key) or "": value for key, value in zip(reply[::2], reply[1::2], strict=False)}


def _as_str(reply: Reply) -> str | None:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return None if reply is None else str(reply)


def _as_int(reply: Reply) -> int:
    if isinstance(reply, int):
        return reply
    if isinstance(reply, bytes) and reply.lstrip(b"-").isdigit():
        return int(reply)
    return 0
