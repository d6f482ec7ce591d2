"""Collected measurements, their medians and ratios, as JSON and as a text table."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ami.bench.config import (
    CASES,
    CEILING,
    LATENCY_RATE,
    REDIS_PY_CONSUME,
    REDIS_PY_PRODUCE,
    RSS_BODY_SIZE,
    BenchConfig,
    Case,
    Workload,
)
from ami.bench.distance import DistanceSample
from ami.bench.latency import LatencySample
from ami.bench.rss import RssSample

SCHEMA_VERSION = 1


@dataclass
class Results:
    """Everything measured, as it comes in; `rates` maps (case key, body size) to runs."""

    rates: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    rss: list[RssSample] = field(default_factory=list)
    latency: list[LatencySample] = field(default_factory=list)
    distance: list[DistanceSample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_rate(self, case: Case, workload: Workload, seconds: float) -> float:
        """Records one run of `case`; returns its rate in messages per second."""
        rate = workload.messages / max(seconds, 1e-9)
        self.rates.setdefault((case.key, workload.body_size), []).append(rate)
        return rate

    def median_rate(self, case: Case, body_size: int) -> float | None:
        """Median rate of `case` at `body_size`, or None when it never ran."""
        runs = self.rates.get((case.key, body_size))
        return statistics.median(runs) if runs else None


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def throughput_rows(config: BenchConfig, results: Results) -> list[dict[str, Any]]:
    """One row per case and body size, with medians and ratios to the baselines.

    Args:
        config: What was run.
        results: What was measured.

    Returns:
        JSON-ready rows; cases that never ran are left out.
    """
    rows = []
    for workload in config.workloads:
        size = workload.body_size
        ceiling = results.median_rate(CEILING, size)
        for case in CASES:
            median = results.median_rate(case, size)
            if median is None:
                continue
            baseline = REDIS_PY_PRODUCE if case.phase == "produce" else REDIS_PY_CONSUME
            rows.append(
                {
                    "case": case.key,
                    "label": case.label,
                    "phase": case.phase,
                    "client": case.client,
                    "body_bytes": size,
                    "messages": workload.messages,
                    "runs_msg_per_s": [round(r, 1) for r in results.rates[(case.key, size)]],
                    "msg_per_s": round(median, 1),
                    "mb_per_s": round(median * size / 1e6, 3),
                    "vs_redis_py": _ratio(median, results.median_rate(baseline, size)),
                    # redis-benchmark only writes: no ceiling for the consume phase.
                    "vs_ceiling": _ratio(median, ceiling) if case.phase == "produce" else None,
                }
            )
    return rows


def rss_summary(config: BenchConfig, results: Results) -> dict[str, Any] | None:
    """Median peak growth of the client holding `rss_messages` unwritten messages."""
    if not results.rss:
        return None
    peaks = [sample.peak_growth_mb for sample in results.rss]
    payload = config.rss_messages * RSS_BODY_SIZE / 1e6
    peak = statistics.median(peaks)
    return {
        "messages": config.rss_messages,
        "body_bytes": RSS_BODY_SIZE,
        "payload_mb": payload,
        "runs_peak_mb": [round(p, 2) for p in peaks],
        "peak_mb": round(peak, 2),
        "bytes_per_message": round(peak * 1e6 / config.rss_messages, 1),
        "all_unwritten": all(s.unwritten == config.rss_messages for s in results.rss),
    }


def latency_summary(config: BenchConfig, results: Results) -> dict[str, Any] | None:
    """Median p50/p99 over the steady-rate runs."""
    if not results.latency:
        return None
    return {
        "rate_msg_per_s": LATENCY_RATE,
        "seconds": config.latency_seconds,
        "warmup_seconds": config.latency_warmup,
        "runs": [asdict(sample) for sample in results.latency],
        "p50_ms": round(statistics.median(s.p50_ms for s in results.latency), 3),
        "p99_ms": round(statistics.median(s.p99_ms for s in results.latency), 3),
        "max_ms": round(max(s.max_ms for s in results.latency), 3),
    }


def distance_summary(results: Results) -> list[dict[str, Any]] | None:
    """Medians per round trip, loopback first, each as a fraction of loopback."""
    if not results.distance:
        return None
    by_rtt: dict[float | None, list[DistanceSample]] = {}
    for sample in results.distance:
        by_rtt.setdefault(sample.rtt_ms, []).append(sample)
    loopback = by_rtt.get(None, [])
    produce_base = statistics.median(s.produce_msg_per_s for s in loopback) if loopback else None
    consume_base = statistics.median(s.consume_msg_per_s for s in loopback) if loopback else None
    rows = []
    for rtt_ms, samples in by_rtt.items():
        produce = statistics.median(s.produce_msg_per_s for s in samples)
        consume = statistics.median(s.consume_msg_per_s for s in samples)
        rows.append(
            {
                "rtt_ms": rtt_ms,
                "ping_ms": round(statistics.median(s.ping_ms for s in samples), 3),
                "runs": [asdict(sample) for sample in samples],
                "produce_msg_per_s": round(produce, 1),
                "consume_msg_per_s": round(consume, 1),
                "produce_vs_loopback": _ratio(produce, produce_base),
                "consume_vs_loopback": _ratio(consume, consume_base),
            }
        )
    return rows


def build_report(
    config: BenchConfig,
    results: Results,
    machine: dict[str, Any],
    started_at: str,
    seconds: float,
) -> dict[str, Any]:
    """The whole run as one JSON-ready document.

    Args:
        config: What was run.
        results: What was measured.
        machine: CPU, memory and versions (see `machine.describe`).
        started_at: ISO 8601 start time.
        seconds: Wall time of the run.

    Returns:
        The report.
    """
    return {
        "schema": SCHEMA_VERSION,
        "started_at": started_at,
        "duration_seconds": round(seconds, 1),
        "machine": machine,
        "config": config.to_dict(),
        "throughput": throughput_rows(config, results),
        "client_rss": rss_summary(config, results),
        "latency": latency_summary(config, results),
        "distance": distance_summary(results),
        "notes": results.notes,
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    """Writes the report, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _spread(runs: list[float], median: float) -> str:
    if len(runs) < 2 or not median:
        return "-"
    return f"±{50 * (max(runs) - min(runs)) / median:.0f}%"


def format_table(report: dict[str, Any]) -> str:
    """The report as aligned text: throughput rows, then memory and latency lines."""
    machine = report["machine"]
    config = report["config"]
    lines = [
        f"ami bench: {machine['server']} on {machine['masters']} masters, {config['shards']} "
        f"shards; {machine['cpu_count']} CPUs ({machine['cpu_model']}); "
        f"median of {config['repeat']} run(s)",
        "",
    ]
    header = (
        "body",
        "phase",
        "client",
        "messages",
        "msg/s",
        "MB/s",
        "spread",
        "/redis-py",
        "/ceil",
    )
    rows = [header] + [
        (
            f"{row['body_bytes']} B",
            row["phase"],
            row["label"],
            f"{row['messages']:,}",
            f"{row['msg_per_s']:,.0f}",
            f"{row['mb_per_s']:.1f}",
            _spread(row["runs_msg_per_s"], row["msg_per_s"]),
            _times(row["vs_redis_py"]),
            _times(row["vs_ceiling"]),
        )
        for row in report["throughput"]
    ]
    lines += _align(rows, right_from=3)
    lines.append("")
    lines += _distance_lines(report)
    lines += _extra_lines(report)
    return "\n".join(lines) + "\n"


def _align(rows: list[tuple[str, ...]], right_from: int) -> list[str]:
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(width) if col >= right_from else cell.ljust(width)
            for col, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _distance_lines(report: dict[str, Any]) -> list[str]:
    rows = report.get("distance")
    if not rows:
        return []
    messages = report["config"]["distance_messages"]
    header = ("RTT", "ping", "produce msg/s", "consume+ack msg/s", "produce", "consume+ack")
    table: list[tuple[str, ...]] = [
        header,
        *[
            (
                "loopback" if row["rtt_ms"] is None else f"proxy {row['rtt_ms']:g} ms",
                f"{row['ping_ms']:.2f} ms",
                f"{row['produce_msg_per_s']:,.0f}",
                f"{row['consume_msg_per_s']:,.0f}",
                _fraction(row["produce_vs_loopback"]),
                _fraction(row["consume_vs_loopback"]),
            )
            for row in rows
        ],
    ]
    return [
        f"distance: {messages:,} x 16 B, default options, send_many(10,000) / "
        "consume(10,000)+ack_many; the last two columns are fractions of loopback",
        *_align(table, right_from=1),
        "",
    ]


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _extra_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    rss = report["client_rss"]
    if rss:
        lines.append(
            f"client peak RSS holding {rss['messages']:,} unwritten {rss['body_bytes']} B "
            f"messages: {rss['peak_mb']:.1f} MB ({rss['bytes_per_message']:.0f} B/message; "
            f"payload {rss['payload_mb']:.1f} MB)"
        )
    latency = report["latency"]
    if latency:
        lines.append(
            f"end-to-end latency at {latency['rate_msg_per_s']:,} msg/s for "
            f"{latency['seconds']:g} s: p50 {latency['p50_ms']:.2f} ms, "
            f"p99 {latency['p99_ms']:.2f} ms, max {latency['max_ms']:.2f} ms"
        )
    lines += [f"note: {note}" for note in report["notes"]]
    return lines
