"""``ami cluster up|down|status``: a local Redis Cluster for development that outlives
the command, recorded in a state file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..cluster import LocalCluster
from .arg_types import non_negative_int, positive_int
from .errors import EXIT_FAILURE, EXIT_OK, UsageError
from .output import Row, plural, table
from .state_file import DEFAULT_STATE_FILE, load_cluster, write_state


def add_cluster_commands(commands: Any) -> None:
    """Register ``cluster up``, ``cluster down`` and ``cluster status``.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
    cluster = commands.add_parser(
        "cluster",
        help="run a local Redis Cluster for development",
        description="Start, inspect and stop a local Redis/Valkey cluster on 127.0.0.1.",
    )
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="start a cluster that keeps running after exit")
    up.add_argument("--masters", type=positive_int, default=3, help="number of masters")
    up.add_argument("--replicas", type=non_negative_int, default=0, help="total number of replicas")
    up.add_argument("--server", help="redis-server/valkey-server binary (default: auto-detect)")
    _add_state_file_option(up)
    up.set_defaults(handler=_up)

    down = actions.add_parser("down", help="stop the cluster recorded in the state file")
    _add_state_file_option(down)
    down.set_defaults(handler=_down)

    status = actions.add_parser("status", help="show the nodes of the recorded cluster")
    _add_state_file_option(status)
    status.set_defaults(handler=_status)


def _add_state_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-file",
        type=Path,
        default=Path(DEFAULT_STATE_FILE),
        help=f"where the cluster's ports and pids are recorded (default: {DEFAULT_STATE_FILE})",
    )


def _up(args: argparse.Namespace) -> int:
    _refuse_if_running(args.state_file, args.prog)
    if args.server and not (os.path.isfile(args.server) and os.access(args.server, os.X_OK)):
        raise UsageError(f"--server {args.server} is not an executable file")
    cluster = LocalCluster(
        masters=args.masters, replicas=args.replicas, server=args.server, detach=True
    ).start()
    try:
        write_state(args.state_file, cluster.to_dict())
    except OSError as exc:
        cluster.stop()
        raise UsageError(f"cannot write state file {args.state_file}: {exc}") from exc
    print(",".join(cluster.nodes))
    print(
        f"started {cluster.server_name} {cluster.server_version} cluster: "
        f"{plural(args.masters, 'master')}, {plural(args.replicas, 'replica')}; "
        f"state in {args.state_file}",
        file=sys.stderr,
    )
    return EXIT_OK


def _down(args: argparse.Namespace) -> int:
    cluster = load_cluster(args.state_file, args.prog)
    cluster.stop()
    args.state_file.unlink(missing_ok=True)
    print(f"stopped {plural(len(cluster.all_nodes), 'node')}", file=sys.stderr)
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    statuses = load_cluster(args.state_file, args.prog).status()
    rows: list[Row] = [("ADDRESS", "ROLE", "PID", "ALIVE", "CLUSTER_STATE")]
    rows += [
        (s.address, s.role, str(s.pid), "yes" if s.alive else "no", s.cluster_state)
        for s in statuses
    ]
    print("\n".join(table(rows)))
    healthy = all(s.alive and s.cluster_state == "ok" for s in statuses)
    return EXIT_OK if healthy else EXIT_FAILURE


def _refuse_if_running(state_file: Path, prog: str) -> None:
    if not state_file.exists():
        return
    try:
        cluster = load_cluster(state_file, prog)
    except UsageError:
        raise UsageError(
            f"{state_file} exists but is not a valid cluster state file; remove it first"
        ) from None
    if any(status.alive for status in cluster.status()):
        raise UsageError(
            f"a cluster recorded in {state_file} is still running; run '{prog} cluster down' first"
        )
    # Stale state from a cluster that died on its own (e.g. after a reboot).
    cluster.stop()
