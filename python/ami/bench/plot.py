"""A PNG of the rates, when matplotlib is installed (it is not a dependency)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

COLORS = {"redis-benchmark": "#9e9e9e", "redis-py": "#d95f02", "ami": "#1b9e77"}


def _pyplot() -> Any | None:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return None
    # Files only: no display is needed or wanted.
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def plot_rates(report: dict[str, Any], path: Path) -> bool:
    """Draws one panel of horizontal bars (msg/s) per body size.

    Args:
        report: The report from `report.build_report`.
        path: Where to write the PNG.

    Returns:
        False when matplotlib is not installed (nothing written).
    """
    plt = _pyplot()
    if plt is None:
        return False
    sizes = sorted({row["body_bytes"] for row in report["throughput"]})
    if not sizes:
        return False
    figure, axes = plt.subplots(
        len(sizes), 1, figsize=(9, 2.2 + 2.0 * len(sizes)), squeeze=False, layout="constrained"
    )
    for axis, size in zip(axes[:, 0], sizes, strict=True):
        _panel(axis, [row for row in report["throughput"] if row["body_bytes"] == size], size)
    machine = report["machine"]
    figure.suptitle(
        f"ami vs redis-py vs redis-benchmark: {machine['server']}, {machine['masters']} masters, "
        f"{machine['cpu_count']} CPUs"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _panel(axis: Any, rows: list[dict[str, Any]], size: int) -> None:
    labels = [f"{row['phase']}: {row['label']}" for row in rows]
    rates = [row["msg_per_s"] for row in rows]
    positions = list(range(len(rows)))[::-1]
    axis.barh(positions, rates, color=[COLORS.get(row["client"], "#7570b3") for row in rows])
    axis.set_yticks(positions, labels, fontsize=8)
    # Room on the right for the value labels.
    axis.set_xlim(0, max(rates) * 1.18)
    axis.set_title(f"{size} B bodies, {rows[0]['messages']:,} messages", fontsize=9)
    axis.set_xlabel("messages per second (median)", fontsize=8)
    axis.xaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
    axis.tick_params(axis="x", labelsize=7)
    for position, rate in zip(positions, rates, strict=True):
        axis.text(rate, position, f" {rate:,.0f}", va="center", fontsize=7)
