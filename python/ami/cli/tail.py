"""``ami tail``: the newest entries of every shard, read without the consumer group."""

from __future__ import annotations

import argparse
import json
import sys

from ..ops import TailEntry
from ..ops import tail as tail_entries
from .errors import EXIT_OK
from .output import format_body, format_headers
from .queue_options import connection_options

# How long `tail --follow` waits after a round of reads that found nothing.
POLL_INTERVAL = 0.2


def tail(args: argparse.Namespace) -> int:
    """Print the newest entries of a queue, and with ``--follow`` new ones until Ctrl-C.

    Args:
        args: NAME, ``--shards``, ``--nodes``, ``--timeout``, ``--count``, ``--follow``,
            ``--json``, and the connection options.

    Returns:
        The exit status.

    Raises:
        QueueNotFoundError: The queue left no trace.
    """
    entries = tail_entries(
        args.name,
        count=args.count,
        follow=args.follow,
        poll_interval=POLL_INTERVAL,
        shards=args.shards,
        layout=args.layout,
        missing_ok=False,
        **connection_options(args),
    )
    try:
        for entry in entries:
            _print(entry, args.json)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _print(entry: TailEntry, as_json: bool) -> None:
    if as_json:
        print(json.dumps(entry.to_dict()))
    else:
        # Tabs cannot occur in a shown body or header, so they split them unambiguously.
        shown = "\t".join([format_body(entry.body), *format_headers(entry.headers)])
        print(entry.stream, entry.id, shown)
    # Each entry shows as soon as it is read, also when stdout is a pipe.
    sys.stdout.flush()
