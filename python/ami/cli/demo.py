"""``ami demo``: a million messages through a local cluster, with the rates."""

from __future__ import annotations

import argparse
from typing import Any

from .arg_types import positive_int


def add_demo_command(commands: Any) -> None:
    """Register ``demo``.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
    demo = commands.add_parser(
        "demo", help="move messages through a local cluster and print the rates"
    )
    demo.add_argument(
        "--messages", type=positive_int, default=1_000_000, help="default: %(default)s"
    )
    demo.add_argument("--masters", type=positive_int, default=3, help="default: %(default)s")
    demo.add_argument(
        "--nodes", help="use this cluster (host:port,...) instead of starting a local one"
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .. import demo

    nodes = args.nodes.split(",") if args.nodes else None
    return demo.run(messages=args.messages, nodes=nodes, masters=args.masters)
