"""Command line interface: ``python -m ami <command> ...``.

Each command group registers its subparsers in an ``_add_<group>_commands`` function and
binds a small handler per action via ``set_defaults(handler=...)``; handlers take the
parsed arguments and return the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._cli_dlq import add_dlq_commands
from ._cli_queue import add_queue_commands
from ._cli_types import non_negative_int, positive_int
from ._shutdown import shutdown_on_signals
from .cluster import LocalCluster
from .exceptions import AmiError, ClusterError

DEFAULT_STATE_FILE = ".ami-cluster.json"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A user mistake: reported as one line on stderr with exit status 2."""


def run() -> None:
    """The ``ami`` command: SIGTERM exits as Ctrl-C does, so nothing accepted is lost."""
    shutdown_on_signals()
    raise SystemExit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The process exit status: 0 on success, 1 on failure, 2 on usage errors.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except AmiError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every command group.

    Returns:
        The top-level parser; parsed namespaces carry a ``handler`` attribute.
    """
    parser = argparse.ArgumentParser(prog="python -m ami", description="ami command line tools")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_cluster_commands(commands)
    add_queue_commands(commands)
    add_dlq_commands(commands)
    _add_demo_command(commands)
    _add_bench_command(commands)
    return parser


def _fail(message: str, status: int) -> int:
    print(f"ami: error: {message}", file=sys.stderr)
    return status


# --------------------------------------------------------------------------- cluster


def _add_cluster_commands(commands: Any) -> None:
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
    up.set_defaults(handler=_cluster_up)

    down = actions.add_parser("down", help="stop the cluster recorded in the state file")
    _add_state_file_option(down)
    down.set_defaults(handler=_cluster_down)

    status = actions.add_parser("status", help="show the nodes of the recorded cluster")
    _add_state_file_option(status)
    status.set_defaults(handler=_cluster_status)


def _add_demo_command(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="move messages through a local cluster and print the rates"
    )
    demo.add_argument("--messages", type=int, default=1_000_000, help="default: %(default)s")
    demo.add_argument("--masters", type=int, default=3, help="default: %(default)s")
    demo.add_argument(
        "--nodes", help="use this cluster (host:port,...) instead of starting a local one"
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ami import demo

    if args.messages < 1:
        raise UsageError("--messages must be at least 1")
    nodes = args.nodes.split(",") if args.nodes else None
    return demo.run(messages=args.messages, nodes=nodes, masters=args.masters)


def _add_bench_command(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="benchmark ami against redis-py and redis-benchmark on a local cluster",
        description="Measure produce/consume rates, client memory and latency; print a table "
        "and write JSON (and a PNG when matplotlib is installed).",
    )
    bench.add_argument(
        "--messages",
        type=positive_int,
        help="2-byte messages per measurement; 100 B get half, 4 KiB a tenth "
        "(default: 1,000,000, or 50,000 with --quick)",
    )
    bench.add_argument("--repeat", type=positive_int, default=3, help="default: %(default)s")
    bench.add_argument("--quick", action="store_true", help="a fast smoke run")
    bench.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="default: %(default)s"
    )
    bench.add_argument("--masters", type=positive_int, default=3, help="default: %(default)s")
    bench.add_argument(
        "--nodes", help="use this cluster (host:port,...) instead of starting a local one"
    )
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from ami import bench

    config = bench.BenchConfig.from_options(
        messages=args.messages,
        repeat=args.repeat,
        quick=args.quick,
        out=args.out,
        nodes=args.nodes.split(",") if args.nodes else None,
        masters=args.masters,
    )
    return bench.run(config)


def _add_state_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-file",
        type=Path,
        default=Path(DEFAULT_STATE_FILE),
        help=f"where the cluster's ports and pids are recorded (default: {DEFAULT_STATE_FILE})",
    )


def _cluster_up(args: argparse.Namespace) -> int:
    _refuse_if_running(args.state_file)
    if args.server and not (os.path.isfile(args.server) and os.access(args.server, os.X_OK)):
        raise UsageError(f"--server {args.server} is not an executable file")
    cluster = LocalCluster(
        masters=args.masters, replicas=args.replicas, server=args.server, detach=True
    ).start()
    try:
        _write_state(args.state_file, cluster.to_dict())
    except OSError as exc:
        cluster.stop()
        raise UsageError(f"cannot write state file {args.state_file}: {exc}") from exc
    print(",".join(cluster.nodes))
    print(
        f"started {cluster.server_name} {cluster.server_version} cluster: {args.masters} masters, "
        f"{args.replicas} replicas; state in {args.state_file}",
        file=sys.stderr,
    )
    return EXIT_OK


def _cluster_down(args: argparse.Namespace) -> int:
    cluster = _load_cluster(args.state_file)
    cluster.stop()
    args.state_file.unlink(missing_ok=True)
    print(f"stopped {len(cluster.all_nodes)} nodes", file=sys.stderr)
    return EXIT_OK


def _cluster_status(args: argparse.Namespace) -> int:
    statuses = _load_cluster(args.state_file).status()
    rows = [("ADDRESS", "ROLE", "PID", "ALIVE", "CLUSTER_STATE")]
    rows += [
        (s.address, s.role, str(s.pid), "yes" if s.alive else "no", s.cluster_state)
        for s in statuses
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    healthy = all(s.alive and s.cluster_state == "ok" for s in statuses)
    return EXIT_OK if healthy else EXIT_FAILURE


def _refuse_if_running(state_file: Path) -> None:
    if not state_file.exists():
        return
    try:
        cluster = _load_cluster(state_file)
    except UsageError:
        raise UsageError(
            f"{state_file} exists but is not a valid cluster state file; remove it first"
        ) from None
    if any(status.alive for status in cluster.status()):
        raise UsageError(
            f"a cluster recorded in {state_file} is still running; "
            "run 'python -m ami cluster down' first"
        )
    # Stale state from a cluster that died on its own (e.g. after a reboot).
    cluster.stop()


def _load_cluster(state_file: Path) -> LocalCluster:
    try:
        data = json.loads(state_file.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"no cluster state file at {state_file}; start one with 'python -m ami cluster up'"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read cluster state file {state_file}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{state_file} is not a cluster state file")
    try:
        return LocalCluster.from_dict(data)
    except ClusterError as exc:
        raise UsageError(f"{state_file}: {exc}") from None


def _write_state(state_file: Path, data: dict[str, Any]) -> None:
    tmp = state_file.with_name(state_file.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, state_file)
