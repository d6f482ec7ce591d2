"""``ami tail``: the newest entries of every shard, read without the consumer group."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import NamedTuple

from .._cluster_client import ClusterClient
from .._inspect import stream_name
from .._resp import Reply
from .errors import EXIT_OK
from .output import format_body
from .queue_options import resolve_nodes

# How long `tail --follow` waits after a round of reads that found nothing.
POLL_INTERVAL = 0.2
READ_BATCH = 1000


class Entry(NamedTuple):
    """One stream entry; tuples sort by id (across shards: roughly by time)."""

    millis: int
    seq: int
    stream: str
    body: bytes | None

    @property
    def id(self) -> str:
        """The entry id, ``<millis>-<seq>``."""
        return f"{self.millis}-{self.seq}"


def tail(args: argparse.Namespace) -> int:
    """Print the newest entries of a queue, and with ``--follow`` new ones until Ctrl-C.

    Args:
        args: NAME, ``--shards``, ``--nodes``, ``--timeout``, ``--count``, ``--follow``.

    Returns:
        The exit status.
    """
    nodes = resolve_nodes(args)
    streams = [stream_name(args.name, shard) for shard in range(args.shards)]
    try:
        with ClusterClient(nodes, timeout=args.timeout) as client:
            cursors = _print_newest(client, streams, args.count)
            if args.follow:
                _follow(client, cursors)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _print_newest(client: ClusterClient, streams: list[str], count: int) -> dict[str, str]:
    """Print the `count` newest entries over all shards, oldest first.

    Returns:
        For each stream, the id to follow from: its newest entry, or ``0-0`` if empty.
    """
    cursors: dict[str, str] = {}
    newest: list[Entry] = []
    for stream in streams:
        # At least one entry, to know where --follow starts even with --count 0.
        reply = client.command(stream, "XREVRANGE", stream, "+", "-", "COUNT", max(count, 1))
        entries = _parse_entries(stream, reply)
        cursors[stream] = entries[0].id if entries else "0-0"
        newest += entries[:count]
    _print_entries(sorted(newest)[-count:] if count else [])
    return cursors


def _follow(client: ClusterClient, cursors: dict[str, str]) -> None:
    # XREAD over keys in different slots is refused by a cluster, so each shard is read
    # on its own, without blocking, and an idle round sleeps instead.
    while True:
        batch: list[Entry] = []
        for stream, cursor in cursors.items():
            reply = client.command(stream, "XREAD", "COUNT", READ_BATCH, "STREAMS", stream, cursor)
            entries = _parse_entries(stream, _xread_entries(reply))
            if entries:
                cursors[stream] = entries[-1].id
            batch += entries
        _print_entries(sorted(batch))
        if not batch:
            time.sleep(POLL_INTERVAL)


def _xread_entries(reply: Reply) -> Reply:
    """The entries of a single-stream ``XREAD`` reply (None when there are none)."""
    if isinstance(reply, list) and reply and isinstance(reply[0], list) and len(reply[0]) == 2:
        return reply[0][1]
    return None


def _parse_entries(stream: str, reply: Reply) -> list[Entry]:
    entries = []
    for item in reply if isinstance(reply, list) else []:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], bytes)):
            continue
        millis, _, seq = item[0].partition(b"-")
        entries.append(Entry(int(millis), int(seq or 0), stream, _body(item[1])))
    return entries


def _body(fields: Reply) -> bytes | None:
    if not isinstance(fields, list):
        return None
    for key, value in zip(fields[::2], fields[1::2], strict=False):
        if key == b"m" and isinstance(value, bytes):
            return value
    return None


def _print_entries(entries: Iterable[Entry]) -> None:
    for entry in entries:
        print(entry.stream, entry.id, format_body(entry.body))
    sys.stdout.flush()
