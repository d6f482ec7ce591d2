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
    CPU_BODY_SIZE,
    CPU_CASES,
    CPU_CLIENTS,
    REDIS_PY_CONSUME,
    REDIS_PY_PRODUCE,
    RSS_BODY_SIZE,
    BenchConfig,
    Case,
    Workload,
)
from ami.bench.cpu_cost import CpuSample, redis_py_parser
from ami.bench.distance import DistanceSample
from ami.bench.latency import CLIENTS, FLOOR, LatencySample
from ami.bench.rss import RssSample

SCHEMA_VERSION = 1


@dataclass
class Results:
    """Everything measured, as it comes in; `rates` maps (case key, body size) to runs."""

    rates: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    rss: list[RssSample] = field(default_factory=list)
    latency: list[LatencySample] = field(default_factory=list)
    cpu: dict[str, list[CpuSample]] = field(default_factory=dict)
    shapes: dict[str, list[float]] = field(default_factory=dict)
    distance: list[DistanceSample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_rate(self, case: Case, workload: Workload, seconds: float) -> float:
        """Records one run of `case`; returns its rate in messages per second."""
        rate = workload.messages / max(seconds, 1e-9)
        self.rates.setdefault((case.key, workload.body_size), []).append(rate)
        return rate

    def add_shape(self, shape: str, rate: float) -> float:
        """Records one producing run through call shape `shape`; returns `rate`."""
        self.shapes.setdefault(shape, []).append(rate)
        return rate

    def median_rate(self, case: Case, body_size: int) -> float | None:
        """Median rate of `case` at `body_size`, or None when it never ran."""
        runs = self.rates.get((case.key, body_size))
        return statistics.median(runs) if runs else None

    def add_cpu(self, case: Case, sample: CpuSample) -> None:
        """Records one client CPU run of `case`."""
        self.cpu.setdefault(case.key, []).append(sample)


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
    """Per rate and client, the medians over the repeats, and ami's p50 next to the floor's."""
    if not results.latency:
        return None
    rows = []
    for rate in config.latency_rates:
        floor_p50 = None
        for client in CLIENTS:
            runs = [s for s in results.latency if s.rate == rate and s.client == client]
            if not runs:
                continue
            p50 = statistics.median(s.p50_ms for s in runs)
            if client == FLOOR:
                floor_p50 = p50
            rows.append(
                {
                    "rate_msg_per_s": rate,
                    "client": client,
                    "achieved_msg_per_s": round(statistics.median(s.achieved_rate for s in runs)),
                    "p50_ms": round(p50, 3),
                    "p99_ms": round(statistics.median(s.p99_ms for s in runs), 3),
                    "p999_ms": round(statistics.median(s.p999_ms for s in runs), 3),
                    "max_ms": round(max(s.max_ms for s in runs), 3),
                    "p50_vs_floor": _ratio(p50, floor_p50) if client != FLOOR else None,
                }
            )
    return {
        "seconds": config.latency_seconds,
        "warmup_seconds": config.latency_warmup,
        "body_bytes": 16,
        "rows": rows,
        "runs": [asdict(sample) for sample in results.latency],
    }


def call_shape_summary(config: BenchConfig, results: Results) -> dict[str, Any] | None:
    """Median rate per call shape, each next to the fastest shape of the run."""
    if not results.shapes:
        return None
    medians = {shape: statistics.median(runs) for shape, runs in results.shapes.items()}
    fastest = max(medians.values())
    return {
        "messages": config.messages,
        "body_bytes": 16,
        "rows": [
            {
                "shape": shape,
                "msg_per_s": round(rate),
                "runs_msg_per_s": [round(r) for r in results.shapes[shape]],
                "vs_fastest": _ratio(rate, fastest),
            }
            for shape, rate in medians.items()
        ],
    }


def cpu_summary(config: BenchConfig, results: Results) -> dict[str, Any] | None:
    """Client CPU per message: one row per way ami was driven, next to its phase's peers.

    Args:
        config: What was run.
        results: What was measured.

    Returns:
        JSON-ready medians per client (µs per message, msg/s), every run, and ami's CPU
        as a fraction of each peer's; None when nothing was measured.
    """
    if not results.cpu:
        return None
    ami_cases = sorted(
        (c for c in CPU_CASES if c.client == "ami"), key=lambda c: c.phase != "produce"
    )
    rows = [_cpu_row(case, results) for case in ami_cases]
    return {
        "messages": config.cpu_messages,
        "peer_messages": config.cpu_peer_messages,
        "body_bytes": CPU_BODY_SIZE,
        "redis_py_parser": redis_py_parser(),
        "rows": [row for row in rows if row is not None],
    }


def _cpu_row(ami_case: Case, results: Results) -> dict[str, Any] | None:
    peers = [c for c in CPU_CASES if c.client != "ami" and c.phase == ami_case.phase]
    measured = {c.client: results.cpu[c.key] for c in [ami_case, *peers] if c.key in results.cpu}
    if "ami" not in measured:
        return None
    micros = {
        client: round(statistics.median(s.us_per_message for s in runs), 3)
        for client, runs in measured.items()
    }
    return {
        "phase": ami_case.phase,
        "ami": ami_case.label,
        "messages": {client: runs[0].messages for client, runs in measured.items()},
        "us_per_message": micros,
        "msg_per_s": {
            client: round(statistics.median(s.msg_per_s for s in runs), 1)
            for client, runs in measured.items()
        },
        "runs_us_per_message": {
            client: [round(s.us_per_message, 3) for s in runs] for client, runs in measured.items()
        },
        "ami_vs": {
            client: _ratio(micros["ami"], value)
            for client, value in micros.items()
            if client != "ami"
        },
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
        "client_cpu": cpu_summary(config, results),
        "call_shapes": call_shape_summary(config, results),
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
    lines += _cpu_lines(report)
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


def _cpu_lines(report: dict[str, Any]) -> list[str]:
    """The client CPU table: µs per message and msg/s per client, ami's share of each peer's."""
    cpu = report.get("client_cpu")
    if not cpu or not cpu["rows"]:
        return []
    peers = [client for client in CPU_CLIENTS if client != "ami"]
    header = (
        "",
        *CPU_CLIENTS,
        *(f"ami/{peer}" for peer in peers),
        *(f"{client} msg/s" for client in CPU_CLIENTS),
    )
    rows = [header]
    for row in cpu["rows"]:
        micros, rates = row["us_per_message"], row["msg_per_s"]
        phase = "consume+ack" if row["phase"] == "consume" else row["phase"]
        rows.append(
            (
                f"{phase}, ami {row['ami']}",
                *(f"{micros[c]:.2f}" if c in micros else "-" for c in CPU_CLIENTS),
                *(_times(row["ami_vs"].get(peer)) for peer in peers),
                *(f"{rates[c]:,.0f}" if c in rates else "-" for c in CPU_CLIENTS),
            )
        )
    title = (
        f"client CPU per message, µs (user+sys of the client process; {cpu['body_bytes']} B "
        f"bodies, {cpu['messages']:,} messages per ami run, {cpu['peer_messages']:,} per "
        f"peer run; medians)"
    )
    parser = f"redis-py parses replies with: {cpu.get('redis_py_parser', '?')}"
    return [title, *_align(rows, right_from=1), parser, ""]


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
        lines += ["", *_latency_lines(latency)]
    shapes = report["call_shapes"]
    if shapes:
        lines += ["", *_call_shape_lines(shapes)]
    lines += [f"note: {note}" for note in report["notes"]]
    return lines


def _latency_lines(latency: dict[str, Any]) -> list[str]:
    """The latency rows as a table under a one-line heading."""
    heading = (
        f"latency from send to consume, {latency['body_bytes']} B bodies, default options, "
        f"{latency['seconds']:g} s per run (first {latency['warmup_seconds']:g} s left out):"
    )
    header = ("rate", "client", "sent/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "p50/floor")
    rows = [header] + [
        (
            f"{row['rate_msg_per_s']:,}",
            row["client"],
            f"{row['achieved_msg_per_s']:,}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['p999_ms']:.2f}",
            f"{row['max_ms']:.2f}",
            _times(row["p50_vs_floor"]),
        )
        for row in latency["rows"]
    ]
    return [heading, *_align(rows, right_from=2)]


def _call_shape_lines(shapes: dict[str, Any]) -> list[str]:
    """Producing rate per call shape, as a table under a one-line heading."""
    heading = (
        f"producing {shapes['messages']:,} x {shapes['body_bytes']} B by call shape, "
        "default options:"
    )
    rows = [("shape", "msg/s", "spread", "/fastest")] + [
        (
            row["shape"],
            f"{row['msg_per_s']:,}",
            _spread(row["runs_msg_per_s"], row["msg_per_s"]),
            _times(row["vs_fastest"]),
        )
        for row in shapes["rows"]
    ]
    return [heading, *_align(rows, right_from=1)]
