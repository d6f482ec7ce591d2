"""``ami check``: a queue's health as an exit status, for liveness and readiness probes."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from ..exceptions import QueueNotFoundError
from ..ops import QueueStats, inspect
from .arg_types import non_negative_int, seconds
from .errors import EXIT_OK
from .output import format_count, format_duration
from .queue_options import add_queue_options, connection_options, queue_command

# 1 stays the CLI's "could not do it" (queue missing, cluster unreachable) and 2 its
# usage mistake, so a probe tells a breached threshold apart from a broken check.
EXIT_BREACHED = 3


@dataclass(frozen=True)
class Finding:
    """One threshold checked: the figure, its limit, and whether it holds."""

    figure: str
    value: float | None
    limit: float
    shown: str

    @property
    def ok(self) -> bool:
        # An unknown figure (the lag beyond what Redis 6.2 lets ami count) fails: a
        # probe that cannot tell must not say healthy.
        return self.value is not None and self.value <= self.limit


def add_check_command(commands: Any) -> None:
    """Register ``check`` on the CLI's subparsers.

    Args:
        commands: The object returned by `argparse.ArgumentParser.add_subparsers`.
    """
    check = commands.add_parser(
        "check",
        help="exit 0 if a queue is within thresholds, 3 if not, 1 if it cannot be checked",
        description="Check a queue against thresholds, for liveness and readiness probes. "
        "Exit status: 0 every threshold holds; 3 one or more are breached (each is "
        "printed); 1 the queue does not exist or the cluster cannot be reached; "
        "2 a usage mistake. Without thresholds it checks that the queue exists.",
    )
    add_queue_options(check)
    check.add_argument(
        "--max-lag",
        type=non_negative_int,
        metavar="N",
        help="most entries not yet delivered to the group",
    )
    check.add_argument(
        "--max-pending-age",
        type=seconds,
        metavar="SECONDS",
        help="oldest age of an entry delivered and not acked",
    )
    check.add_argument(
        "--max-dead-letters",
        type=non_negative_int,
        metavar="N",
        help="most entries in the dead-letter streams",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of lines")
    check.set_defaults(handler=queue_command(_check))


def findings(
    stats: QueueStats,
    *,
    max_lag: int | None = None,
    max_pending_age: float | None = None,
    max_dead_letters: int | None = None,
) -> list[Finding]:
    """Compare a queue's figures with the thresholds given.

    Args:
        stats: What `ami.inspect` returned.
        max_lag: Most entries not yet delivered; None does not check it.
        max_pending_age: Oldest pending age in seconds; None does not check it.
        max_dead_letters: Most dead letters; None does not check it.

    Returns:
        One finding per threshold given.
    """
    found = []
    if max_lag is not None:
        shown = "unknown" if stats.lag is None else format_count(stats.lag)
        found.append(Finding("lag", stats.lag, max_lag, shown))
    if max_pending_age is not None:
        age = stats.oldest_pending_age or 0.0
        found.append(Finding("oldest_pending_age", age, max_pending_age, format_duration(age)))
    if max_dead_letters is not None:
        dead = stats.dead_letters
        found.append(Finding("dead_letters", dead, max_dead_letters, format_count(dead)))
    return found


def _check(args: argparse.Namespace) -> int:
    stats = inspect(args.name, shards=args.shards, **connection_options(args))
    if not stats.exists:
        raise QueueNotFoundError(f"queue {args.name!r} does not exist", args.name)
    found = findings(
        stats,
        max_lag=args.max_lag,
        max_pending_age=args.max_pending_age,
        max_dead_letters=args.max_dead_letters,
    )
    healthy = all(finding.ok for finding in found)
    if args.json:
        print(json.dumps(_as_dict(args.name, healthy, found), indent=2))
    else:
        for finding in found:
            verdict = "ok" if finding.ok else "BREACHED"
            sign = "<=" if finding.ok else ">"
            print(f"{verdict} {finding.figure} {finding.shown} {sign} {finding.limit:g}")
        print(f"{args.name}: {'healthy' if healthy else 'unhealthy'}")
    return EXIT_OK if healthy else EXIT_BREACHED


def _as_dict(name: str, healthy: bool, found: list[Finding]) -> dict[str, Any]:
    return {
        "queue": name,
        "healthy": healthy,
        "checks": [
            {"figure": f.figure, "value": f.value, "limit": f.limit, "ok": f.ok} for f in found
        ],
    }
