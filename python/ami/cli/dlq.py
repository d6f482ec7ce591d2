"""Dead-letter commands: ``ami dlq list``, ``ami dlq replay``, ``ami dlq purge``.

They find the cluster like the queue commands (``--nodes``, ``$AMI_NODES``, or the
cluster of ``ami cluster up``) and report mistakes the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..ops import DeadLetter, DeadLetters, parse_id
from .arg_types import positive_int
from .errors import EXIT_OK, UsageError
from .output import Row, format_count, format_headers, plural, preview, table
from .queue_options import add_queue_options, connection_options, queue_command

# Longest body shown in the table of `ami dlq list`, in characters.
BODY_PREVIEW = 60
# Longest headers shown there, all of them in one cell; the body stays last, as free
# text at the end of the line.
HEADERS_PREVIEW = 60

_IDS_EPILOG = (
    "IDs are dead-letter ids as 'ami dlq list' shows them, optionally as SHARD:ID when the "
    "same id is in more than one shard."
)


def add_dlq_commands(commands: Any) -> None:
    """Register ``dlq list``, ``dlq replay`` and ``dlq purge`` on the CLI's subparsers.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
    dlq = commands.add_parser(
        "dlq",
        help="list, replay or purge the dead letters of a queue",
        description="Work with the dead-letter streams qu{i}:dlq:NAME, where consumers "
        "move messages delivered more than max_deliveries times.",
    )
    actions = dlq.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="show the oldest dead letters",
        description="Show the oldest dead letters over all shards, without removing them.",
    )
    add_queue_options(listing)
    listing.add_argument(
        "--limit", type=positive_int, default=100, help="at most this many (default: 100)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=queue_command(_list))

    replay = actions.add_parser(
        "replay",
        help="move dead letters back into the queue",
        description="Add dead letters back to their shard streams as new messages and "
        "remove them from the dead letters, each atomically.",
        epilog=_IDS_EPILOG,
    )
    add_queue_options(replay)
    replay.add_argument("ids", nargs="*", metavar="ID", help="the dead letters to replay")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    replay.set_defaults(handler=queue_command(_replay))

    purge = actions.add_parser(
        "purge",
        help="delete dead letters for good",
        description="Delete the given dead letters, or with --all --yes every one.",
        epilog=_IDS_EPILOG,
    )
    add_queue_options(purge)
    purge.add_argument("ids", nargs="*", metavar="ID", help="the dead letters to delete")
    purge.add_argument("--all", action="store_true", help="delete every dead letter")
    purge.add_argument("--yes", action="store_true", help="confirm --all")
    purge.set_defaults(handler=queue_command(_purge))


# --------------------------------------------------------------------------- list


def _list(args: argparse.Namespace) -> int:
    with _open(args) as dead_letters:
        letters = dead_letters.list(args.limit)
        total = dead_letters.count() if len(letters) >= args.limit else len(letters)
    if args.json:
        print(json.dumps([letter.to_dict() for letter in letters], indent=2))
    elif letters:
        print("\n".join(format_dead_letters(letters)))
    else:
        print(f"no dead letters in {args.name}")
    if total > len(letters):
        shown = f"showing {format_count(len(letters))} of {plural(total, 'dead letter')}"
        print(f"{shown}; see --limit", file=sys.stderr)
    return EXIT_OK


def format_dead_letters(letters: list[DeadLetter]) -> list[str]:
    """Render dead letters as an aligned text table with a header row.

    Args:
        letters: What `DeadLetters.list` returned.

    Returns:
        The lines to print.
    """
    rows: list[Row] = [
        ("DLQ_ID", "SHARD", "DELIVERIES", "REASON", "ORIGINAL_ID", "HEADERS", "BODY")
    ]
    rows += [
        (
            letter.id,
            str(letter.shard),
            format_count(letter.deliveries),
            letter.reason or "-",
            letter.original_id or "-",
            _headers_preview(letter.headers),
            preview(letter.body, BODY_PREVIEW),
        )
        for letter in letters
    ]
    return table(rows, right={1, 2})


def _headers_preview(headers: dict[str, bytes]) -> str:
    text = " ".join(format_headers(headers)) or "-"
    return text if len(text) <= HEADERS_PREVIEW else text[: HEADERS_PREVIEW - 3] + "..."


# --------------------------------------------------------------------------- replay, purge


def _replay(args: argparse.Namespace) -> int:
    _check_selection(args, "replay")
    with _open(args) as dead_letters:
        replayed = dead_letters.replay(None if args.all else args.ids)
    print(f"replayed {plural(replayed, 'dead letter')} to {args.name}")
    _report_missing(args, replayed)
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    _check_selection(args, "purge")
    if args.all and not args.yes:
        raise UsageError("purge --all deletes every dead letter for good: add --yes to confirm")
    with _open(args) as dead_letters:
        purged = dead_letters.purge(None if args.all else args.ids)
    print(f"purged {plural(purged, 'dead letter')} from {args.name}")
    _report_missing(args, purged)
    return EXIT_OK


def _check_selection(args: argparse.Namespace, action: str) -> None:
    if args.all and args.ids:
        raise UsageError(f"{action}: give IDs or --all, not both")
    if not args.all and not args.ids:
        raise UsageError(f"{action}: give the IDs of dead letters (see 'ami dlq list') or --all")
    for entry_id in args.ids:
        parse_id(entry_id, args.shards)  # a usage error, before connecting


def _report_missing(args: argparse.Namespace, done: int) -> None:
    wanted = len(set(args.ids))
    if not args.all and done < wanted:
        missing = f"{format_count(wanted - done)} of {format_count(wanted)}"
        print(f"{missing} IDs were not found", file=sys.stderr)


def _open(args: argparse.Namespace) -> DeadLetters:
    return DeadLetters(
        args.name, shards=args.shards, layout=args.layout, **connection_options(args)
    )
