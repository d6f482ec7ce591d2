"""``ami worker MODULE:FUNCTION NAME``: `ami.run_worker` from the command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket
import sys
from typing import Any

from .arg_types import non_negative_int, positive_int, seconds
from .errors import EXIT_OK, UsageError
from .output import format_count
from .queue_options import add_queue_options, connection_options, queue_command


def add_worker_command(commands: Any) -> None:
    """Register ``worker``.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
    worker = commands.add_parser(
        "worker",
        help="run a handler on every message of a queue, until SIGTERM or SIGINT",
        description="Import FUNCTION from MODULE (the working directory is on the path) "
        "and call it with each message, or each list of messages with --batch. A return "
        "acks, an exception is logged and nacks (dead-lettered after --max-deliveries). "
        "The first SIGTERM or SIGINT stops reading, finishes the handlers in flight, "
        "acks and exits 0; a second one exits at once.",
    )
    worker.add_argument("target", metavar="MODULE:FUNCTION", help="the handler to run")
    add_queue_options(worker)
    worker.add_argument(
        "--consumer",
        help="consumer name; keep it across restarts so a worker gets its unfinished "
        "messages back at once (default: HOSTNAME-PID)",
    )
    worker.add_argument(
        "--concurrency", type=positive_int, default=1, help="handlers in flight (default: 1)"
    )
    worker.add_argument("--batch", action="store_true", help="pass lists of messages")
    worker.add_argument(
        "--batch-size", type=positive_int, default=100, help="most messages per list"
    )
    worker.add_argument(
        "--claim-idle", type=seconds, default=60.0, help="see claim_idle (default: 60)"
    )
    worker.add_argument(
        "--max-deliveries",
        type=non_negative_int,
        default=10,
        help="deliveries before a message is dead-lettered; 0 never (default: 10)",
    )
    worker.add_argument(
        "--trace",
        action="store_true",
        help="run each handler call in an OpenTelemetry span, with the globally "
        "configured provider (e.g. under opentelemetry-instrument); needs the otel extra",
    )
    worker.set_defaults(handler=queue_command(_worker))


def load_handler(target: str) -> Any:
    """The callable named by ``MODULE:FUNCTION`` (``FUNCTION`` may be dotted).

    Args:
        target: What the command line named.

    Returns:
        The callable.

    Raises:
        UsageError: The module or function cannot be found, or is not callable.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"expected MODULE:FUNCTION, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no {attribute!r}") from None
    if not callable(found):
        raise UsageError(f"{target} is not callable")
    return found


def _worker(args: argparse.Namespace) -> int:
    from .._worker import run_worker

    handler = load_handler(args.target)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    consumer = args.consumer or f"{_safe_name(socket.gethostname())}-{os.getpid()}"
    stats = run_worker(
        handler,
        args.name,
        consumer=consumer,
        concurrency=args.concurrency,
        batch=args.batch,
        batch_size=args.batch_size,
        claim_idle=args.claim_idle,
        max_deliveries=args.max_deliveries or None,
        trace=args.trace,
        **({"shards": args.shards} if args.shards else {}),
        **connection_options(args),
    )
    print(
        f"worker {consumer} stopped: {format_count(stats['handled'])} handled, "
        f"{format_count(stats['failed'])} failed"
    )
    return EXIT_OK


def _safe_name(host: str) -> str:
    """The host name with only the characters a consumer name allows."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-.:@") else "-" for c in host)
