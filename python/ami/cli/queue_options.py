"""The options every queue command takes, and how they become a cluster and a queue.

Every queue command finds the cluster the same way: ``--nodes``, else ``$AMI_NODES``, else
the cluster recorded by ``ami cluster up`` in ``.ami-cluster.json``; and connects as the
clients do, with the same TLS and ACL options (a password from ``$AMI_PASSWORD`` stays
out of the process list).
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _ami
from .._seeds import seed_list
from ..exceptions import ConfigError
from .arg_types import seconds, shard_count
from .errors import UsageError
from .parser import Handler
from .state_file import DEFAULT_STATE_FILE, load_cluster

if TYPE_CHECKING:
    from .._options import ConnectionOptions

NODES_ENV = "AMI_NODES"
USERNAME_ENV = "AMI_USERNAME"
PASSWORD_ENV = "AMI_PASSWORD"
DEFAULT_TIMEOUT = 5.0


def add_queue_options(parser: argparse.ArgumentParser) -> None:
    """Add NAME, ``--shards``, ``--layout``, ``--nodes`` and ``--timeout`` to a queue command.

    Args:
        parser: The command's parser.
    """
    parser.add_argument("name", metavar="NAME", help="queue name")
    parser.add_argument(
        "--shards",
        type=shard_count,
        default=None,
        help="the queue's shard count (default: the count the queue recorded, else 10; "
        "another count than the recorded one is an error)",
    )
    parser.add_argument(
        "--layout",
        choices=("go", "spread"),
        default=None,
        help="where the queue's shards sit (default: the layout the queue recorded, "
        "else go; another layout than the recorded one is an error)",
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
    parser.add_argument("--username", help=f"ACL user (default: ${USERNAME_ENV})")
    parser.add_argument(
        "--password", help=f"password; prefer ${PASSWORD_ENV}, which ps does not show"
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--tls-ca-file", metavar="PEM", help="CAs to trust (implies --tls)")
    parser.add_argument("--tls-cert-file", metavar="PEM", help="client certificate (mutual TLS)")
    parser.add_argument("--tls-key-file", metavar="PEM", help="the client certificate's key")
    parser.add_argument(
        "--tls-insecure-skip-verify",
        action="store_true",
        help="do not verify the server's certificate (anyone on the path can read along)",
    )


def queue_command(run: Handler) -> Handler:
    """Wrap a handler so that invalid names and options are usage errors (exit 2).

    Args:
        run: The handler of a command with `add_queue_options`.

    Returns:
        The handler that checks NAME first.
    """

    @functools.wraps(run)
    def handle(args: argparse.Namespace) -> int:
        try:
            _ami.validate_name(args.name)
            return run(args)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None

    return handle


def connection_options(args: argparse.Namespace) -> ConnectionOptions:
    """The clients' connection options from a queue command's arguments.

    Args:
        args: The parsed arguments of a queue command.

    Returns:
        Keywords for `ami.inspect`, `ami.DeadLetters`, `ami.Producer` and the like.

    Raises:
        ConfigError: No nodes were given and no state file exists.
        UsageError: The state file cannot be read.
    """
    options: ConnectionOptions = {
        "nodes": seed_list(resolve_nodes(args)),
        "connect_timeout": args.timeout,
        "response_timeout": args.timeout,
        "username": args.username or os.environ.get(USERNAME_ENV) or None,
        "password": args.password or os.environ.get(PASSWORD_ENV) or None,
        "tls": args.tls,
        "tls_ca_file": args.tls_ca_file,
        "tls_cert_file": args.tls_cert_file,
        "tls_key_file": args.tls_key_file,
        "tls_insecure_skip_verify": args.tls_insecure_skip_verify,
    }
    return options


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
