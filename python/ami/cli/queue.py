"""Queue commands: ``ami stats``, ``ami tail``, ``ami send`` and ``ami grow``."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import _ami
from ..exceptions import QueueNotFoundError, ServerError
from ..ops import QueueStats, ShardStats, grow, inspect
from .arg_types import header, non_negative_int, shard_count
from .errors import EXIT_OK, UsageError
from .output import Row, format_count, format_duration, plural, table
from .queue_options import add_queue_options, connection_options, queue_command
from .tail import tail

if TYPE_CHECKING:
    from .._options import ConnectionOptions, Layout

SEND_BATCH = 10_000
# The Go ami's shard count, which a queue that recorded none has.
DEFAULT_SHARDS = 10


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
    add_queue_options(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(handler=queue_command(_stats))

    tail_parser = commands.add_parser(
        "tail",
        help="print the newest messages of a queue without consuming them",
        description="Print 'stream id body' for the newest messages of every shard, "
        "each header after the body as a tab and NAME=VALUE; the consumer group is not "
        "touched.",
    )
    add_queue_options(tail_parser)
    tail_parser.add_argument(
        "--count", "-n", type=non_negative_int, default=10, help="default: %(default)s"
    )
    tail_parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new messages until Ctrl-C"
    )
    tail_parser.add_argument(
        "--json", action="store_true", help="print one JSON object per entry instead"
    )
    tail_parser.set_defaults(handler=queue_command(tail))

    send = commands.add_parser(
        "send",
        help="send a message, or one message per line of stdin",
        description="Send BODY as one message, or with '-' or no BODY, one message per "
        "line of stdin (without the newline).",
    )
    add_queue_options(send)
    send.add_argument(
        "body",
        nargs="?",
        default="-",
        metavar="BODY|-",
        help="the message; '-' or none: one message per line of stdin",
    )
    send.add_argument(
        "--header",
        "-H",
        type=header,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="headers",
        help="a header of every message sent; repeat for more",
    )
    send.set_defaults(handler=queue_command(_send))

    grow_parser = commands.add_parser(
        "grow",
        help="raise a live queue's shard count",
        description="Raise the shard count the queue recorded to SHARDS (in the spread "
        "layout a multiple of it): the new streams get the group, then the record "
        "changes. Restart the clients with the new count, consumers first.",
    )
    add_queue_options(grow_parser)
    grow_parser.add_argument("to", type=shard_count, metavar="SHARDS", help="the new count")
    grow_parser.set_defaults(handler=queue_command(_grow))


# --------------------------------------------------------------------------- stats


def _stats(args: argparse.Namespace) -> int:
    stats = inspect(args.name, shards=args.shards, layout=args.layout, **connection_options(args))
    if not stats.exists:
        raise QueueNotFoundError(f"queue {args.name!r} does not exist", args.name)
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
    header = (
        f"queue {stats.name}  group {stats.group}  shards {len(stats.shards)}  "
        f"layout {stats.layout}" + ("" if stats.offset is None else f"  offset {stats.offset}")
    )
    shard_rows: list[Row] = [
        (
            "SHARD",
            "MASTER",
            "LENGTH",
            "PENDING",
            "LAG",
            "CONSUMERS",
            "OLDEST_PENDING",
            "DEAD",
            "DELIVERED",
        )
    ]
    shard_rows += [_shard_row(shard) for shard in stats.shards]
    shard_rows.append(
        (
            "total",
            "",
            format_count(stats.length),
            format_count(stats.pending),
            _optional(stats.lag),
            format_count(len(stats.consumers)),
            format_duration(stats.oldest_pending_age),
            format_count(stats.dead_letters),
            "",
        )
    )
    consumer_rows: list[Row] = [("CONSUMER", "PENDING", "IDLE")]
    consumer_rows += [
        (c.name, format_count(c.pending), format_duration(c.idle)) for c in stats.consumers
    ]
    consumers = table(consumer_rows, right={1, 2}) if stats.consumers else ["no consumers"]
    master_rows: list[Row] = [("MASTER", "SHARDS", "HELD")]
    master_rows += [
        (master, format_count(len(held)), " ".join(map(str, held)))
        for master, held in stats.masters().items()
    ]
    return [
        header,
        "",
        *table(shard_rows, right=range(2, 8)),
        "",
        *table(master_rows, right={1}),
        "",
        *consumers,
    ]


def _shard_row(shard: ShardStats) -> Row:
    return (
        shard.stream,
        shard.master or "?",
        format_count(shard.length),
        format_count(shard.pending),
        _optional(shard.lag),
        format_count(len(shard.consumers)),
        format_duration(shard.oldest_pending_age),
        format_count(shard.dead_letters),
        shard.last_delivered_id or "-",
    )


def _optional(value: int | None) -> str:
    return "?" if value is None else format_count(value)


# --------------------------------------------------------------------------- send


def _send(args: argparse.Namespace) -> int:
    from .._producer import Producer

    names = [name for name, _ in args.headers]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise UsageError(f"--header {twice[0]!r} is given more than once")
    options = connection_options(args)
    shards, layout = _recorded_shape(args.name, args.shards, args.layout, options)
    # fsencode gives back the exact bytes of an argument that is not valid UTF-8.
    bodies = _stdin_lines() if args.body == "-" else iter([os.fsencode(args.body)])
    headers = dict(args.headers) or None
    producer = Producer(args.name, shards=shards, layout=layout, **options)
    with producer:
        sent = sum(
            producer.send_many(chunk, headers=headers) for chunk in _chunks(bodies, SEND_BATCH)
        )
    print(f"sent {plural(sent, 'message')} to {args.name}")
    return EXIT_OK


def _recorded_shape(
    name: str, shards: int | None, layout: Layout | None, options: ConnectionOptions
) -> tuple[int, Layout]:
    """The shard count and layout given, else those the queue recorded (else 10 shards,
    Go layout), so a bare ``ami send q`` joins the queue.

    When the user may not read the record (no ``+get``), what was given or the
    defaults: the shard guard then refuses them if the queue recorded others.
    """
    try:
        admin = _ami.AdminCore(name, shards, layout, **options)
    except ServerError as exc:
        if exc.code == "NOPERM":
            return shards or DEFAULT_SHARDS, layout or "go"
        raise
    recorded = admin.shards, admin.layout
    admin.close()
    return recorded


def _grow(args: argparse.Namespace) -> int:
    if args.shards is not None or args.layout is not None:
        raise UsageError("ami grow takes the queue's recorded count and layout; give only SHARDS")
    before = grow(args.name, args.to, **connection_options(args))
    print(f"{args.name}: {before} -> {args.to} shards")
    return EXIT_OK


def _stdin_lines() -> Iterator[bytes]:
    for line in sys.stdin.buffer:
        yield line[:-1] if line.endswith(b"\n") else line


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk
