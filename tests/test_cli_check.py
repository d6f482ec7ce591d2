"""``ami check``: thresholds on a real queue, and exit statuses a probe can act on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ami
from ami import cli
from helpers import drain

SHARDS = 2
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


@pytest.fixture(autouse=True)
def _no_ambient_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMI_NODES", raising=False)
    monkeypatch.chdir(tmp_path)


def _check(queue: str, nodes: list[str], *thresholds: str) -> int:
    return cli.main(["check", queue, "--nodes", ",".join(nodes), *thresholds])


def test_a_healthy_queue_exits_0(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many([b"a", b"b"])
    status = _check(queue, nodes, "--max-lag", "2", "--max-pending-age", "60")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "ok lag 2 <= 2" in out
    assert f"{queue}: healthy" in out


def test_each_breached_threshold_exits_3_and_is_named(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many([b"%d" % i for i in range(5)])
    assert _check(queue, nodes, "--max-lag", "4") == 3
    assert "BREACHED lag 5 > 4" in capsys.readouterr().out

    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=SHARDS) as holder:
        assert len(drain(holder, 5, ack=False)) == 5
        time.sleep(0.3)
        assert _check(queue, nodes, "--max-pending-age", "0.2") == 3
        assert "BREACHED oldest_pending_age" in capsys.readouterr().out
        assert _check(queue, nodes, "--max-lag", "0", "--max-pending-age", "60") == 0

    with ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=SHARDS, claim_idle=0.2, max_deliveries=1
    ) as failing:
        deadline = time.monotonic() + 10
        while failing.stats()["dead_lettered"] < 5 and time.monotonic() < deadline:
            failing.consume(10, timeout=0.2)
    capsys.readouterr()
    assert _check(queue, nodes, "--max-dead-letters", "5") == 0
    capsys.readouterr()
    assert _check(queue, nodes, "--max-dead-letters", "4", "--json") == 3
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is False
    assert report["checks"] == [{"figure": "dead_letters", "value": 5, "limit": 4, "ok": False}]


def test_a_missing_queue_or_cluster_exits_1_never_0(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(queue, nodes) == 1
    assert _check(queue, nodes, "--max-lag", "100") == 1
    assert "QueueNotFoundError" in capsys.readouterr().err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    assert cli.main(["check", queue, "--nodes", dead, "--timeout", "0.5"]) == 1
    assert "ConnectError" in capsys.readouterr().err


def test_usage_mistakes_exit_2(nodes: list[str], queue: str) -> None:
    assert _check(queue, nodes, "--max-lag", "-1") == 2
    assert _check(queue, nodes, "--max-pending-age", "soon") == 2
    assert _check("bad name", nodes) == 2


def test_check_as_a_process(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send(b"x")
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), AMI_NODES=",".join(nodes))
    run = [sys.executable, "-m", "ami", "check", queue]
    healthy = subprocess.run([*run, "--max-lag", "1"], env=env, capture_output=True, timeout=60)
    breached = subprocess.run([*run, "--max-lag", "0"], env=env, capture_output=True, timeout=60)
    assert (healthy.returncode, breached.returncode) == (0, 3)
