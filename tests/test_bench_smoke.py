"""The benchmark machinery end to end, with tiny sizes: keys and positive rates only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ami import cli
from ami.bench.call_shape import SHAPES
from ami.bench.config import CASES, CEILING
from ami.bench.latency import CLIENTS

pytestmark = pytest.mark.timeout(60)


def test_quick_bench_writes_a_complete_report(
    nodes: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(
        [
            "bench",
            "--quick",
            "--messages",
            "2000",
            "--repeat",
            "1",
            "--nodes",
            ",".join(nodes),
            "--out",
            str(tmp_path),
        ]
    )

    assert status == 0
    [path] = tmp_path.glob("bench-*.json")
    report = json.loads(path.read_text())
    sections = {"machine", "config", "throughput", "client_rss", "latency", "call_shapes", "notes"}
    assert sections <= set(report)
    assert report["machine"]["cpu_count"] >= 1
    assert report["machine"]["server"]
    expected = {case.key for case in CASES}
    if shutil.which("redis-benchmark") is None:
        expected.discard(CEILING.key)
    cases_by_size: dict[int, set[str]] = {}
    for row in report["throughput"]:
        cases_by_size.setdefault(row["body_bytes"], set()).add(row["case"])
    assert cases_by_size == {2: expected, 100: expected, 4096: expected}
    assert all(row["msg_per_s"] > 0 for row in report["throughput"])
    assert report["client_rss"]["all_unwritten"]
    latency = {row["client"]: row for row in report["latency"]["rows"]}
    assert set(latency) == set(CLIENTS)
    assert all(row["p50_ms"] > 0 and row["achieved_msg_per_s"] > 0 for row in latency.values())
    assert {row["shape"] for row in report["call_shapes"]["rows"]} == {s for s, _ in SHAPES}
    cpu_rows = report["client_cpu"]["rows"]
    assert [row["phase"] for row in cpu_rows] == ["produce", "produce", "consume"]
    assert all(row["us_per_message"]["ami"] > 0 for row in cpu_rows)
    assert "msg/s" in capsys.readouterr().out
