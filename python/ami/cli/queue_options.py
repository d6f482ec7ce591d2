"""The options every queue command takes, and how they become a cluster and a queue.

Every queue command finds the cluster the same way: ``--nodes``, else ``$AMI_NODES``, else
the cluster recorded by ``ami cluster up`` in ``.ami-cluster.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

from .._inspect import validate_name, validate_shards
from ..exceptions import ConfigError
from .arg_types import seconds, shard_count
from .errors import UsageError
from .parser import Handler
from .state_file import DEFAULT_STATE_FILE, load_cluster

NODES_ENV = "AMI_NODES"
DEFAULT_TIMEOUT = 5.0
# The shard count used without --shards. A queue records its count in qu_NAME_shards;
# until the command line can read that record, `shards_to_use` falls back to this.
SHARDS_UNTIL_THE_RECORD_IS_READ = 10


def add_queue_options(parser: argparse.ArgumentParser) -> None:
    """Add NAME, ``--shards``, ``--nodes`` and ``--timeout`` to a queue command.

    Args:
        parser: The command's parser.
    """
    parser.add_argument("name", metavar="NAME", help="queue name")
    parser.add_argument(
        "--shards",
        type=shard_count,
        default=None,
        help="the queue's shard count (default: the count the queue recorded; "
        f"for now always {SHARDS_UNTIL_THE_RECORD_IS_READ})",
    )
    parser.add_argument(
        "--nodes",
        metavar="HOST:PORT[,HOST:PORT]",
        help=f"seed nodes (default: ${NODES_ENV}, else the cluster of 'ami cluster up')",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help="seconds to connect and per request (default: %(default)s)",
    )


def queue_command(run: Handler) -> Handler:
    """Wrap a handler so that invalid names and options are usage errors (exit 2).

    Args:
        run: The handler of a command with `add_queue_options`.

    Returns:
        The handler that checks NAME and settles ``args.shards`` first.
    """

    @functools.wraps(run)
    def handle(args: argparse.Namespace) -> int:
        try:
            validate_name(args.name)
            args.shards = shards_to_use(args)
            validate_shards(args.shards)
            return run(args)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None

    return handle


def shards_to_use(args: argparse.Namespace) -> int:
    """The shard count of the queue: ``--shards``, else the one the queue recorded.

    Args:
        args: The parsed arguments of a queue command.

    Returns:
        The shard count.
    """
    if args.shards is not None:
        return int(args.shards)
    # Reading qu_NAME_shards needs an admin handle the native core does not offer yet.
    return SHARDS_UNTIL_THE_RECORD_IS_READ


def resolve_nodes(args: argparse.Namespace) -> str:
    """The seed nodes to use: ``--nodes``, else ``$AMI_NODES``, else the state file.

    Args:
        args: The parsed arguments: ``nodes`` and ``prog``.

    Returns:
        Comma-separated seed nodes.

    Raises:
        ConfigError: No nodes were given and no state file exists.
        UsageError: The state file cannot be read.
    """
    nodes = (args.nodes or os.environ.get(NODES_ENV, "")).strip()
    if nodes:
        return nodes
    state_file = Path(DEFAULT_STATE_FILE)
    if state_file.exists():
        return ",".join(load_cluster(state_file, args.prog).nodes)
    raise ConfigError(
        f"no cluster given: pass --nodes HOST:PORT, set {NODES_ENV}, "
        f"or start one with '{args.prog} cluster up'",
        "nodes",
    )
