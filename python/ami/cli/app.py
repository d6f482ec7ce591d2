"""The command line's front: parse the arguments, run the command's handler, and turn
what it raised into one line on stderr and an exit status."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._shutdown import shutdown_on_signals
from ..exceptions import AmiError
from .bench import add_bench_command
from .cluster import add_cluster_commands
from .demo import add_demo_command
from .dlq import add_dlq_commands
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from .parser import CommandParser, Handler, VersionAction
from .queue import add_queue_commands


def run(prog: str | None = None) -> None:
    """The ``ami`` command: SIGTERM exits as Ctrl-C does, so nothing accepted is lost.

    Args:
        prog: The program name in usage lines and messages; default the name it was run
            by (the basename of ``sys.argv[0]``).
    """
    shutdown_on_signals()
    raise SystemExit(main(prog=prog or os.path.basename(sys.argv[0])))


def main(argv: Sequence[str] | None = None, prog: str = "ami") -> int:
    """Run the CLI.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.
        prog: The program name in usage lines and messages.

    Returns:
        The process exit status: 0 on success, 1 on failure, 2 on usage errors.
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        return _fail(prog, str(exc), EXIT_USAGE)
    except AmiError as exc:
        return _fail(prog, f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted", EXIT_INTERRUPTED)


def build_parser(prog: str = "ami") -> argparse.ArgumentParser:
    """Build the argument parser with every command group.

    Args:
        prog: The program name in usage lines and messages.

    Returns:
        The top-level parser; parsed namespaces carry a ``handler`` attribute, and
        ``prog`` for the messages that name a command to run.
    """
    parser = CommandParser(prog=prog, description="ami command line tools")
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    parser.set_defaults(prog=prog)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_cluster_commands(commands)
    add_queue_commands(commands)
    add_dlq_commands(commands)
    add_demo_command(commands)
    add_bench_command(commands)
    return parser


def _fail(prog: str, message: str, status: int) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status
