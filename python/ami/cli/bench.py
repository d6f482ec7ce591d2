"""``ami bench``: the benchmark of `ami.bench`, from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .arg_types import positive_int


def add_bench_command(commands: Any) -> None:
    """Register ``bench``.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
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
    from .. import bench

    config = bench.BenchConfig.from_options(
        messages=args.messages,
        repeat=args.repeat,
        quick=args.quick,
        out=args.out,
        nodes=args.nodes.split(",") if args.nodes else None,
        masters=args.masters,
    )
    return bench.run(config)
