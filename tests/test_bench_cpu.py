"""The client CPU measurement: the clock, one real child process, and the table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ami.bench.admin import Admin, fresh_queue
from ami.bench.config import (
    CPU_AMI_CONSUME,
    CPU_AMI_SEND,
    CPU_AMI_SEND_MANY,
    CPU_BODY_SIZE,
    CPU_REDIS_PY_PRODUCE,
    BenchConfig,
    Workload,
)
from ami.bench.cpu_cost import CpuSample, Stopwatch, measure_cpu
from ami.bench.report import Results, cpu_summary, format_table

pytestmark = pytest.mark.timeout(60)


def test_stopwatch_counts_cpu_but_not_sleep() -> None:
    with Stopwatch() as busy:
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            pass
    with Stopwatch() as idle:
        time.sleep(0.05)

    assert busy.cpu_seconds > 0.02
    assert idle.wall_seconds >= 0.05
    assert idle.cpu_seconds < 0.02


def test_ami_produces_and_consumes_in_child_processes(nodes: list[str]) -> None:
    queue = fresh_queue("cpu_test")
    workload = Workload(CPU_BODY_SIZE, 2_000)
    with Admin(nodes) as admin:
        try:
            produced = measure_cpu(CPU_AMI_SEND, nodes, queue, workload)
            consumed = measure_cpu(CPU_AMI_CONSUME, nodes, queue, workload)
        finally:
            admin.delete_queue(queue)

    for sample in (produced, consumed):
        assert sample.messages == 2_000
        assert sample.cpu_seconds > 0
        assert sample.msg_per_s > 0


def test_the_table_puts_ami_next_to_each_peer(tmp_path: Path) -> None:
    results = Results()
    for seconds in (0.5, 0.4, 0.6):
        results.add_cpu(CPU_AMI_SEND, CpuSample(500_000, seconds, 1.0))
    results.add_cpu(CPU_AMI_SEND_MANY, CpuSample(500_000, 0.25, 0.5))
    results.add_cpu(CPU_REDIS_PY_PRODUCE, CpuSample(500_000, 5.0, 4.0))
    config = BenchConfig(out=tmp_path, cpu_messages=500_000)

    summary = cpu_summary(config, results)

    assert summary is not None
    send, send_many = summary["rows"]
    assert send["us_per_message"] == {"ami": 1.0, "redis-py": 10.0}
    assert send["ami_vs"] == {"redis-py": pytest.approx(0.1)}
    assert send["msg_per_s"]["ami"] == 500_000
    assert send_many["us_per_message"]["ami"] == 0.5
    report = {
        "machine": {"server": "redis 7", "masters": 3, "cpu_count": 2, "cpu_model": "x"},
        "config": {"shards": 10, "repeat": 3},
        "throughput": [],
        "client_rss": None,
        "latency": None,
        "call_shapes": None,
        "client_cpu": summary,
        "notes": [],
    }
    table = format_table(report)
    assert "client CPU per message" in table
    [line] = [row for row in table.splitlines() if row.startswith("produce, ami send()")]
    assert line.split()[3:6] == ["1.00", "10.00", "-"]
