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
from .check import add_check_command
from .cluster import add_cluster_commands
from .demo import add_demo_command
from .dlq import add_dlq_commands
from .errors import (
    EXIT_CLOSED_STDOUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
)
from .parser import CommandParser, Handler, VersionAction
from .queue import add_queue_commands
from .worker import add_worker_command


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
        The process exit status: 0 on success, 1 on failure, 2 on usage errors, 130
        when interrupted, 141 when stdout was closed before everything was written.
    """
    parser = build_parser(prog)
    try:
        status = _parse_and_run(parser, argv, prog)
        # Write what is buffered now, while a closed stdout is still ours to report.
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_CLOSED_STDOUT
    return status


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
    add_check_command(commands)
    add_worker_command(commands)
    add_dlq_commands(commands)
    add_demo_command(commands)
    add_bench_command(commands)
    return parser


def _parse_and_run(parser: argparse.ArgumentParser, argv: Sequence[str] | None, prog: str) -> int:
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


def _silence_stdout() -> None:
    """Point stdout at /dev/null: Python flushes it again at exit, and that flush would
    report the closed pipe a second time."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _fail(prog: str, message: str, status: int) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status
