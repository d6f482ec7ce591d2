"""Runs every measurement `repeat` times against one cluster, then reports."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ami.bench import ami_runs, redis_py, worker_runs
from ami.bench.admin import Admin, fresh_queue
from ami.bench.call_shape import SHAPES, measure_shape
from ami.bench.ceiling import measure_ceiling, redis_benchmark_binary
from ami.bench.config import (
    AMI_CONSUME_MANY,
    AMI_CONSUME_XDEL,
    AMI_ITERATE,
    AMI_SEND,
    AMI_SEND_MANY,
    AMI_WORKER,
    CEILING,
    DISTANCE_RTTS_MS,
    REDIS_PY_CONSUME,
    REDIS_PY_PRODUCE,
    RSS_BODY_SIZE,
    BenchConfig,
    Case,
    Workload,
)
from ami.bench.cpu_cost import cpu_pairs, glide_installed, measure_cpu
from ami.bench.distance import at_distance, measure_path
from ami.bench.latency import CLIENTS, measure_latency
from ami.bench.machine import describe
from ami.bench.plot import plot_rates
from ami.bench.progress import Progress, Step
from ami.bench.report import Results, build_report, format_table, write_json
from ami.bench.rss import measure_rss
from ami.cluster import LocalCluster


@dataclass
class _Run:
    """What every step needs: where to connect, where to record, how to report."""

    config: BenchConfig
    nodes: list[str]
    admin: Admin
    progress: Progress
    results: Results
    redis_benchmark: str | None
    failures: int = 0


def run(config: BenchConfig) -> int:
    """Runs the benchmark, prints the table and writes the JSON (and PNG) to `config.out`.

    Args:
        config: What to run.

    Returns:
        0 when every measurement succeeded, 1 when some failed (they are in the notes).
    """
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    binary = redis_benchmark_binary()
    progress = Progress(total_steps(config, ceiling=binary is not None))
    results = Results()
    if binary is None:
        _skip_note(progress, results, "redis-benchmark not found on PATH: no server ceiling")
    if not glide_installed():
        _skip_note(progress, results, "valkey-glide is not installed: no valkey-glide CPU figures")
    with _cluster(config, progress) as nodes, Admin(nodes) as admin:
        machine = describe(admin)
        state = _Run(config, nodes, admin, progress, results, binary)
        for repetition in range(config.repeat):
            _run_once(state, f"run {repetition + 1}/{config.repeat}")
    report = build_report(config, results, machine, started_at, time.perf_counter() - clock)
    _write_outputs(config.out, report)
    return 1 if state.failures else 0


def total_steps(config: BenchConfig, *, ceiling: bool) -> int:
    """How many steps `run` will show: throughput per workload, memory, latency, CPU."""
    per_workload = 2 * len(PAIRS) + (1 if ceiling else 0)
    latency = len(config.latency_rates) * len(CLIENTS)
    return config.repeat * (
        per_workload * len(config.workloads)
        + 1
        + latency
        + len(SHAPES)
        + _cpu_steps()
        + _distance_steps(config)
    )


@contextmanager
def _cluster(config: BenchConfig, progress: Progress) -> Iterator[list[str]]:
    if config.nodes:
        yield config.nodes
        return
    progress.note(f"starting a local {config.masters}-master cluster ...")
    with LocalCluster(masters=config.masters) as cluster:
        progress.note(f"cluster up: {','.join(cluster.nodes)} ({cluster.server_version})")
        yield cluster.nodes


def _run_once(state: _Run, prefix: str) -> None:
    for workload in state.config.workloads:
        label = f"{prefix} {workload.body_size:>4} B"
        if state.redis_benchmark:
            _ceiling(state, workload, label)
        for pair in PAIRS:
            _pair(state, workload, label, pair)
    _rss(state, prefix)
    _latency(state, prefix)
    _call_shapes(state, prefix)
    _client_cpu(state, prefix)
    _distance(state, prefix)


def _ceiling(state: _Run, workload: Workload, label: str) -> None:
    assert state.redis_benchmark is not None
    with state.progress.step(f"{label} {CEILING.label}") as step:
        try:
            seconds = workload.messages / measure_ceiling(
                state.redis_benchmark, state.admin.masters()[0], state.admin, workload
            )
        except RuntimeError as exc:
            step.result = "skipped"
            state.redis_benchmark = None
            _skip_note(state.progress, state.results, f"no server ceiling: {exc}")
            return
        step.result = f"{state.results.add_rate(CEILING, workload, seconds):,.0f} msg/s"


def _redis_py_produce(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return redis_py.produce(state.admin, queue, workload, step.update)


def _redis_py_consume(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return redis_py.consume(state.admin, queue, workload.messages, step.update)


def _ami_send(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return ami_runs.produce_send(state.nodes, queue, workload, step.update)


def _ami_iterate(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return ami_runs.consume_iterate(state.nodes, queue, workload.messages, step.update)


def _ami_send_many(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return ami_runs.produce_send_many(state.nodes, queue, workload, step.update)


def _ami_consume_many(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return ami_runs.consume_many(state.nodes, queue, workload.messages, step.update)


def _ami_consume_many_xdel(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return ami_runs.consume_many(
        state.nodes, queue, workload.messages, step.update, trim_acked=False
    )


def _ami_worker(state: _Run, queue: str, workload: Workload, step: Step) -> float:
    return worker_runs.consume_worker(state.nodes, queue, workload.messages, step.update)


Timed = Callable[[_Run, str, Workload, Step], float]

# Each pair fills a fresh queue one way and drains it another. `send_many` fills two
# queues per repetition, so its median is over twice as many runs.
PAIRS: tuple[tuple[Case, Timed, Case, Timed], ...] = (
    (REDIS_PY_PRODUCE, _redis_py_produce, REDIS_PY_CONSUME, _redis_py_consume),
    (AMI_SEND, _ami_send, AMI_ITERATE, _ami_iterate),
    (AMI_SEND_MANY, _ami_send_many, AMI_CONSUME_MANY, _ami_consume_many),
    (AMI_SEND_MANY, _ami_send_many, AMI_CONSUME_XDEL, _ami_consume_many_xdel),
    (AMI_SEND_MANY, _ami_send_many, AMI_WORKER, _ami_worker),
)


def _pair(
    state: _Run, workload: Workload, label: str, pair: tuple[Case, Timed, Case, Timed]
) -> None:
    """Produces into a fresh queue, consumes it, then deletes its streams."""
    produce_case, produce, consume_case, consume = pair
    queue = fresh_queue(produce_case.key)
    try:
        if _measure(state, produce_case, workload, label, queue, produce):
            _measure(state, consume_case, workload, label, queue, consume)
        else:
            state.progress.note(f"{label} {consume_case.label}: skipped, nothing was produced")
    finally:
        state.admin.delete_queue(queue)


@contextmanager
def _step(state: _Run, label: str, what: str) -> Iterator[Step]:
    """Shows a step; a failure inside it is noted and counted, and the run goes on.

    One failed measurement should not throw away the others: it is reported in the
    notes and the exit status instead.
    """
    with state.progress.step(label) as step:
        try:
            yield step
        except Exception as exc:
            step.result = f"FAILED: {type(exc).__name__}: {exc}"
            state.failures += 1
            state.results.notes.append(f"{what} failed: {type(exc).__name__}: {exc}")


def _measure(
    state: _Run, case: Case, workload: Workload, label: str, queue: str, timed: Timed
) -> bool:
    """Runs one timed case; returns whether it succeeded."""
    succeeded = False
    what = f"{case.label} with {workload.body_size} B bodies"
    with _step(state, f"{label} {case.label}", what) as step:
        seconds = timed(state, queue, workload, step)
        step.result = f"{state.results.add_rate(case, workload, seconds):,.0f} msg/s"
        succeeded = True
    return succeeded


def _rss(state: _Run, prefix: str) -> None:
    messages = state.config.rss_messages
    label = f"{prefix} client RSS, {messages:,} x {RSS_BODY_SIZE} B unwritten"
    queue = fresh_queue("rss")
    try:
        with _step(state, label, "the client memory measurement") as step:
            sample = measure_rss(state.nodes, queue, messages, RSS_BODY_SIZE)
            state.results.rss.append(sample)
            step.result = f"peak +{sample.peak_growth_mb:.1f} MB"
    finally:
        state.admin.delete_queue(queue)


def _latency(state: _Run, prefix: str) -> None:
    config = state.config
    for rate in config.latency_rates:
        for client in CLIENTS:
            queue = fresh_queue("lat")
            label = f"{prefix} latency, {client} at {rate:,} msg/s for {config.latency_seconds:g} s"
            try:
                with _step(state, label, f"the latency of {client} at {rate:,} msg/s") as step:
                    sample = measure_latency(
                        state.admin,
                        state.nodes,
                        queue,
                        client=client,
                        rate=rate,
                        seconds=config.latency_seconds,
                        warmup=config.latency_warmup,
                    )
                    state.results.latency.append(sample)
                    step.result = f"p50 {sample.p50_ms:.2f} ms, p99 {sample.p99_ms:.2f} ms"
            finally:
                state.admin.delete_queue(queue)


def _call_shapes(state: _Run, prefix: str) -> None:
    messages = state.config.messages
    for shape, _ in SHAPES:
        queue = fresh_queue("shape")
        label = f"{prefix} {messages:,} x 16 B through {shape}"
        try:
            with _step(state, label, f"producing through {shape}") as step:
                seconds = measure_shape(state.nodes, queue, shape, messages)
                rate = state.results.add_shape(shape, messages / seconds)
                step.result = f"{rate:,.0f} msg/s"
        finally:
            state.admin.delete_queue(queue)


def _cpu_steps() -> int:
    return sum(1 if consume is None else 2 for _, consume in cpu_pairs())


def _client_cpu(state: _Run, prefix: str) -> None:
    """Each client fills a fresh queue in one child process and drains it in another."""
    for produce, consume in cpu_pairs():
        workload = state.config.cpu_workload(produce)
        queue = fresh_queue("cpu")
        try:
            if _cpu_case(state, prefix, produce, queue, workload) and consume is not None:
                _cpu_case(state, prefix, consume, queue, workload)
        finally:
            state.admin.delete_queue(queue)


def _cpu_case(state: _Run, prefix: str, case: Case, queue: str, workload: Workload) -> bool:
    """Measures one case's client CPU; returns whether it succeeded."""
    succeeded = False
    what = f"the client CPU of {case.client} {case.label}"
    with _step(state, f"{prefix} client CPU, {case.client} {case.label}", what) as step:
        sample = measure_cpu(case, state.nodes, queue, workload)
        state.results.add_cpu(case, sample)
        step.result = f"{sample.us_per_message:.2f} µs/msg, {sample.msg_per_s:,.0f} msg/s"
        succeeded = True
    return succeeded


def _distance_steps(config: BenchConfig) -> int:
    """Loopback, then one row per round trip; none on a cluster given by `--nodes`."""
    return 0 if config.nodes else 1 + len(DISTANCE_RTTS_MS)


def _distance(state: _Run, prefix: str) -> None:
    """Loopback, then the same through the delay proxy at each round trip."""
    skipped = _distance_skipped(state)
    if skipped:
        if not any(note.startswith("distance:") for note in state.results.notes):
            _skip_note(state.progress, state.results, f"distance: {skipped}, skipped")
        return
    messages = state.config.distance_messages
    if not _distance_row(state, prefix, state.nodes, messages, None):
        return
    try:
        with at_distance(state.nodes) as proxy:
            for rtt_ms in DISTANCE_RTTS_MS:
                proxy.set_rtt(rtt_ms / 1000)
                _distance_row(state, prefix, proxy.seeds, messages, rtt_ms)
    except Exception as exc:
        state.failures += 1
        _skip_note(state.progress, state.results, f"distance: the proxy failed: {exc}")


def _distance_skipped(state: _Run) -> str | None:
    """Why the distance rows cannot run here, or None."""
    if state.config.nodes:
        # Reconfiguring someone else's cluster is not a benchmark's business.
        return "needs a local cluster"
    server = state.admin.server_info()
    if server["name"] == "redis" and server["version"].startswith("6."):
        return "Redis 6.2 cannot announce a proxy's port at run time"
    return None


def _distance_row(
    state: _Run, prefix: str, seeds: list[str], messages: int, rtt_ms: float | None
) -> bool:
    path = "loopback" if rtt_ms is None else f"proxy at {rtt_ms:g} ms RTT"
    label = f"{prefix} distance: {messages:,} x 16 B, {path}"
    queue = fresh_queue("dist")
    succeeded = False
    try:
        with _step(state, label, f"the distance row {path}") as step:
            sample = measure_path(seeds, queue, messages, rtt_ms)
            state.results.distance.append(sample)
            step.result = (
                f"produce {sample.produce_msg_per_s:,.0f} msg/s, "
                f"consume+ack {sample.consume_msg_per_s:,.0f} msg/s "
                f"(ping {sample.ping_ms:.2f} ms)"
            )
            succeeded = True
    finally:
        state.admin.delete_queue(queue)
    return succeeded


def _skip_note(progress: Progress, results: Results, text: str) -> None:
    progress.note(f"note: {text}")
    results.notes.append(text)


def _write_outputs(out: Path, report: dict[str, Any]) -> None:
    stem = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    png = stem.with_suffix(".png")
    if not plot_rates(report, png):
        report["notes"].append("matplotlib is not installed: no plot (pip install matplotlib)")
    table = format_table(report)
    write_json(report, stem.with_suffix(".json"))
    stem.with_suffix(".txt").write_text(table)
    sys.stdout.write("\n" + table)
    written = [stem.with_suffix(s) for s in (".json", ".txt", ".png")]
    print("wrote " + ", ".join(str(p) for p in written if p.exists()), file=sys.stderr)
