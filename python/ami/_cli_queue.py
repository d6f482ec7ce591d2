"""Queue commands of the CLI: ``ami stats``, ``ami tail`` and ``ami send``.

Every command finds the cluster the same way: ``--nodes``, else ``$AMI_NODES``, else the
cluster recorded by ``ami cluster up`` in ``.ami-cluster.json``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ._cli_types import non_negative_int, positive_float
from ._cluster_client import ClusterClient
from ._inspect import QueueStats, ShardStats, inspect, stream_name, validate_name, validate_shards
from ._resp import Reply
from .exceptions import ConfigError

NODES_ENV = "AMI_NODES"
EXIT_OK = 0  # as ami.cli.EXIT_OK; cli imports this module, so it cannot be imported here
DEFAULT_TIMEOUT = 5.0
# How long `tail --follow` waits after a round of reads that found nothing.
POLL_INTERVAL = 0.2
READ_BATCH = 1000
SEND_BATCH = 10_000

Handler = Callable[[argparse.Namespace], int]
Row = tuple[str, ...]


def add_queue_commands(commands: Any) -> None:
    """Register ``stats``, ``tail`` and ``send`` on the CLI's subparsers.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
    stats = commands.add_parser(
        "stats",
        help="show length, pending, lag and consumers of a queue",
        description="Show per-shard and total length, pending entries, lag, consumers, "
        "oldest pending age and dead letters of a queue, without consuming from it.",
    )
    _add_queue_options(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(handler=_queue_command(_stats))

    tail = commands.add_parser(
        "tail",
        help="print the newest messages of a queue without consuming them",
        description="Print 'stream id body' for the newest messages of every shard; "
        "the consumer group is not touched.",
    )
    _add_queue_options(tail)
    tail.add_argument(
        "--count", "-n", type=non_negative_int, default=10, help="default: %(default)s"
    )
    tail.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new messages until Ctrl-C"
    )
    tail.set_defaults(handler=_queue_command(_tail))

    send = commands.add_parser(
        "send",
        help="send a message, or one message per line of stdin",
        description="Send BODY as one message, or with '-' or no BODY, one message per "
        "line of stdin (without the newline).",
        # argparse cannot fill an optional positional that comes after an option.
        epilog="Put options before NAME or after BODY: ami send NAME BODY --shards 4",
    )
    _add_queue_options(send)
    send.add_argument("body", nargs="?", default="-", metavar="BODY|-")
    send.set_defaults(handler=_queue_command(_send))


def _add_queue_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="queue name")
    parser.add_argument(
        "--shards", type=int, default=10, help="the queue's shard count (default: %(default)s)"
    )
    parser.add_argument(
        "--nodes",
        metavar="HOST:PORT[,HOST:PORT]",
        help=f"seed nodes (default: ${NODES_ENV}, else the cluster of 'ami cluster up')",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        help="seconds to connect and per request (default: %(default)s)",
    )


def _queue_command(run: Handler) -> Handler:
    """Wrap a handler so that invalid names and options are usage errors (exit 2)."""

    @functools.wraps(run)
    def handle(args: argparse.Namespace) -> int:
        from .cli import UsageError  # cli imports this module: import it at call time

        try:
            validate_name(args.name)
            validate_shards(args.shards)
            return run(args)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None

    return handle


def resolve_nodes(option: str | None) -> str:
    """The seed nodes to use: the option, else ``$AMI_NODES``, else the state file.

    Args:
        option: The value of ``--nodes``, if given.

    Returns:
        Comma-separated seed nodes.

    Raises:
        ConfigError: No nodes were given and no state file exists.
        UsageError: The state file cannot be read.
    """
    from .cli import DEFAULT_STATE_FILE, _load_cluster  # at call time, as above

    nodes = (option or os.environ.get(NODES_ENV, "")).strip()
    if nodes:
        return nodes
    state_file = Path(DEFAULT_STATE_FILE)
    if state_file.exists():
        return ",".join(_load_cluster(state_file).nodes)
    raise ConfigError(
        f"no cluster given: pass --nodes HOST:PORT, set {NODES_ENV}, "
        "or start one with 'python -m ami cluster up'",
        "nodes",
    )


# --------------------------------------------------------------------------- stats


def _stats(args: argparse.Namespace) -> int:
    nodes = resolve_nodes(args.nodes)
    stats = inspect(args.name, nodes=nodes, shards=args.shards, timeout=args.timeout)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
    else:
        print("\n".join(format_stats(stats)))
    return EXIT_OK


def format_stats(stats: QueueStats) -> list[str]:
    """Render stats as aligned text tables: shards with a total row, then consumers.

    Args:
        stats: What `ami.inspect` returned.

    Returns:
        The lines to print.
    """
    header = f"queue {stats.name}  group {stats.group}  shards {len(stats.shards)}"
    shard_rows: list[Row] = [
        ("SHARD", "LENGTH", "PENDING", "LAG", "CONSUMERS", "OLDEST_PENDING", "DEAD", "DELIVERED")
    ]
    shard_rows += [_shard_row(shard) for shard in stats.shards]
    shard_rows.append(
        (
            "total",
            str(stats.length),
            str(stats.pending),
            _optional(stats.lag),
            str(len(stats.consumers)),
            format_duration(stats.oldest_pending_age),
            str(stats.dead_letters),
            "",
        )
    )
    consumer_rows: list[Row] = [("CONSUMER", "PENDING", "IDLE")]
    consumer_rows += [(c.name, str(c.pending), format_duration(c.idle)) for c in stats.consumers]
    consumers = _table(consumer_rows) if stats.consumers else ["no consumers"]
    return [header, "", *_table(shard_rows), "", *consumers]


def _shard_row(shard: ShardStats) -> Row:
    return (
        shard.stream,
        str(shard.length),
        str(shard.pending),
        _optional(shard.lag),
        str(len(shard.consumers)),
        format_duration(shard.oldest_pending_age),
        str(shard.dead_letters),
        shard.last_delivered_id or "-",
    )


def _table(rows: list[Row]) -> list[str]:
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _optional(value: int | None) -> str:
    return "?" if value is None else str(value)


def format_duration(seconds: float | None) -> str:
    """A short human duration: ``0.35s``, ``42.0s``, ``5m03s``, ``2h05m``, ``3d04h``.

    Args:
        seconds: The duration; None for "not applicable".

    Returns:
        The text, or ``-`` for None.
    """
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    for unit, size, sub_unit, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // sub_size:02d}{sub_unit}"
    return f"{whole // 60}m{whole % 60:02d}s"


# --------------------------------------------------------------------------- tail


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


def _tail(args: argparse.Namespace) -> int:
    nodes = resolve_nodes(args.nodes)
    streams = [stream_name(args.name, shard) for shard in range(args.shards)]
    try:
        with ClusterClient(nodes, timeout=args.timeout) as client:
            cursors = _print_newest(client, streams, args.count)
            if args.follow:
                _follow(client, cursors)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like other Unix tools.
        _discard_stdout()
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


def format_body(body: bytes | None) -> str:
    """A body as one line of text: itself if printable UTF-8, else the bytes' repr.

    Args:
        body: The entry's field ``m``; None for an entry without it.

    Returns:
        The text to print.
    """
    if body is None:
        return "(no field m)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return repr(body)
    # Newlines or other control characters would break the one-line-per-entry output.
    return text if text and text.isprintable() else repr(body)


def _discard_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush is silent.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# --------------------------------------------------------------------------- send


def _send(args: argparse.Namespace) -> int:
    # The native core is imported only here: stats and tail work without it.
    from ._producer import Producer

    nodes = resolve_nodes(args.nodes)
    # fsencode gives back the exact bytes of an argument that is not valid UTF-8.
    bodies = _stdin_lines() if args.body == "-" else iter([os.fsencode(args.body)])
    with Producer(
        args.name, nodes=nodes, shards=args.shards, connect_timeout=args.timeout
    ) as producer:
        sent = sum(producer.send_many(chunk) for chunk in _chunks(bodies, SEND_BATCH))
    print(f"sent {sent} message{'' if sent == 1 else 's'} to {args.name}")
    return EXIT_OK


def _stdin_lines() -> Iterator[bytes]:
    for line in sys.stdin.buffer:
        yield line[:-1] if line.endswith(b"\n") else line


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk
