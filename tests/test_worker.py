"""`ami.run_worker` and ``ami worker``: handlers per message or per batch, sync or async,
acks after success, nacks on failure, and a drain on SIGTERM that loses and duplicates
nothing handed to a handler."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

import ami
from ami import cli
from helpers import drain, pending_with, total_length, total_pending, wait_until

SHARDS = 2
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def _send(nodes: list[str], queue: str, count: int) -> list[bytes]:
    bodies = [b"m%d" % i for i in range(count)]
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many(bodies)
    return bodies


def _run_in_thread(worker: ami.Worker) -> tuple[threading.Thread, dict[str, dict[str, int]]]:
    result: dict[str, dict[str, int]] = {}
    thread = threading.Thread(target=lambda: result.update(stats=worker.run()))
    thread.start()
    return thread, result


def _worker(
    handler: Callable[..., object], nodes: list[str], queue: str, **kw: object
) -> ami.Worker:
    return ami.Worker(handler, queue, consumer="w", nodes=nodes, shards=SHARDS, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_every_message_is_handled_and_acked_and_a_failure_is_retried(
    nodes: list[str],
    redis_client: RedisCluster,
    queue: str,
    concurrency: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bodies = _send(nodes, queue, 300)
    seen: Counter[bytes] = Counter()
    lock = threading.Lock()

    def handle(message: ami.Message) -> None:
        with lock:
            seen[message.body] += 1
        if message.body == b"m7" and message.deliveries == 1:
            raise RuntimeError("flaky downstream")

    worker = _worker(handle, nodes, queue, concurrency=concurrency)
    thread, result = _run_in_thread(worker)
    wait_until(lambda: len(seen) == 300 and seen[b"m7"] == 2, "every message handled")
    worker.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert result["stats"] == {"handled": 300, "failed": 1}
    assert {body: count for body, count in seen.items() if count != 1} == {b"m7": 2}
    assert sorted(seen) == sorted(bodies)
    assert total_length(redis_client, queue, SHARDS) == 0
    assert total_pending(redis_client, queue, SHARDS) == 0
    failure = [r for r in caplog.records if r.name == "ami.worker" and r.exc_info]
    assert len(failure) == 1
    assert "flaky downstream" in str(failure[0].exc_info[1])


def test_async_batch_handler(nodes: list[str], redis_client: RedisCluster, queue: str) -> None:
    bodies = _send(nodes, queue, 500)
    batches: list[list[bytes]] = []

    async def handle(messages: list[ami.Message]) -> None:
        await asyncio.sleep(0.001)
        batches.append([m.body for m in messages])

    worker = _worker(handle, nodes, queue, concurrency=3, batch=True, batch_size=50)
    assert worker.is_async
    thread, result = _run_in_thread(worker)
    wait_until(lambda: sum(map(len, batches)) == 500, "every batch handled")
    worker.stop()
    thread.join(30)
    assert result["stats"] == {"handled": 500, "failed": 0}
    assert all(1 <= len(batch) <= 50 for batch in batches)
    assert sorted(body for batch in batches for body in batch) == sorted(bodies)
    assert total_length(redis_client, queue, SHARDS) == 0


def test_a_poison_message_is_dead_lettered_and_the_worker_goes_on(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, 20)
    handled: list[bytes] = []

    async def handle(message: ami.Message) -> None:
        if message.body == b"m3":
            raise ValueError("cannot parse")
        handled.append(message.body)

    worker = _worker(handle, nodes, queue, max_deliveries=2)
    thread, result = _run_in_thread(worker)
    dlq = [f"qu{{{shard}}}:dlq:{queue}" for shard in range(SHARDS)]
    wait_until(
        lambda: len(handled) == 19 and sum(redis_client.xlen(s) for s in dlq) == 1, "dead letter"
    )
    worker.stop()
    thread.join(30)
    assert result["stats"] == {"handled": 19, "failed": 2}
    assert total_pending(redis_client, queue, SHARDS) == 0


def test_bad_arguments_are_refused_at_once(nodes: list[str], queue: str) -> None:
    with pytest.raises(TypeError):
        ami.run_worker("not callable", queue, consumer="w", nodes=nodes)  # type: ignore[arg-type]
    with pytest.raises(ami.ConfigError, match="concurrency"):
        ami.run_worker(print, queue, consumer="w", nodes=nodes, concurrency=0)
    with pytest.raises(ami.ConfigError, match="claim_idle"):
        ami.run_worker(print, queue, consumer="w", nodes=nodes, claim_idle=None)
    assert cli.main(["worker", "nosuchmodule:f", queue, "--nodes", nodes[0]]) == 2
    assert cli.main(["worker", "os:nosuchfunction", queue, "--nodes", nodes[0]]) == 2
    assert cli.main(["worker", "os", queue, "--nodes", nodes[0]]) == 2


# --------------------------------------------------------------------------- SIGTERM

HANDLER_MODULE = """
import asyncio, os, time

LOG = os.environ["HANDLED_LOG"]
PAUSE = float(os.environ.get("HANDLER_PAUSE", "0.002"))

def handle(message):
    time.sleep(PAUSE)
    record(message)

async def handle_async(message):
    await asyncio.sleep(PAUSE)
    record(message)

def record(message):
    with open(LOG, "a") as log:
        log.write(message.id + " " + message.body.decode() + "\\n")
"""


def _start_worker(
    tmp_path: Path,
    nodes: list[str],
    queue: str,
    *args: str,
    pause: float = 0.002,
    handler: str = "handle",
) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "handlers.py").write_text(textwrap.dedent(HANDLER_MODULE))
    log = tmp_path / "handled.log"
    env = dict(
        os.environ,
        PYTHONPATH=str(PYTHON_DIR),
        HANDLED_LOG=str(log),
        HANDLER_PAUSE=str(pause),
    )
    command = [sys.executable, "-m", "ami", "worker", f"handlers:{handler}", queue]
    command += ["--nodes", ",".join(nodes), "--shards", str(SHARDS), "--consumer", "w1", *args]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE)
    return process, log


def _handled(log: Path) -> list[str]:
    return log.read_text().split("\n")[:-1] if log.exists() else []


@pytest.mark.parametrize(
    ("handler", "concurrency"),
    [("handle", "1"), ("handle", "8"), ("handle_async", "1"), ("handle_async", "8")],
)
def test_sigterm_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path,
    nodes: list[str],
    redis_client: RedisCluster,
    queue: str,
    handler: str,
    concurrency: str,
) -> None:
    bodies = _send(nodes, queue, 3000)
    worker, log = _start_worker(
        tmp_path, nodes, queue, "--concurrency", concurrency, handler=handler
    )
    wait_until(lambda: len(_handled(log)) >= 300, "the worker to get going", timeout=30)
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, out
    assert b"stopped" in out

    handled = _handled(log)
    handled_bodies = [line.split(" ")[1].encode() for line in handled]
    assert len(handled) < 3000, "the signal came too late to test anything"
    assert len(set(handled)) == len(handled), "a message was handed to a handler twice"
    # Every handled message was acked (and deleted); every other one is still there.
    assert total_length(redis_client, queue, SHARDS) == 3000 - len(handled)
    assert pending_with(redis_client, queue, SHARDS, "w1") == total_pending(
        redis_client, queue, SHARDS
    )
    with ami.Consumer(queue, consumer="w1", nodes=nodes, shards=SHARDS) as heir:
        rest = drain(heir, 3000 - len(handled), idle=3.0)
    assert sorted(handled_bodies + [m.body for m in rest]) == sorted(bodies)
    assert total_length(redis_client, queue, SHARDS) == 0


def test_a_second_sigterm_exits_at_once_leaving_messages_pending(
    tmp_path: Path, nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, 10)
    worker, log = _start_worker(tmp_path, nodes, queue, "--concurrency", "2", pause=60.0)
    wait_until(lambda: pending_with(redis_client, queue, SHARDS, "w1") >= 2, "handlers to start")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=10)
    assert worker.returncode == 128 + signal.SIGTERM
    assert _handled(log) == []
    # Nothing was acked: all 10 are still in the queue, to be delivered again.
    assert total_length(redis_client, queue, SHARDS) == 10
    with ami.Consumer(queue, consumer="w1", nodes=nodes, shards=SHARDS) as heir:
        assert len(drain(heir, 10, idle=3.0)) == 10


def test_a_handler_exception_is_logged_by_the_cli_worker(
    tmp_path: Path, nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _send(nodes, queue, 1)
    (tmp_path / "failing.py").write_text("def handle(message):\n    raise KeyError('boom')\n")
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    command = [sys.executable, "-m", "ami", "worker", "failing:handle", queue, "--nodes"]
    command += [",".join(nodes), "--shards", str(SHARDS), "--max-deliveries", "2"]
    worker = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    dlq = [f"qu{{{shard}}}:dlq:{queue}" for shard in range(SHARDS)]
    wait_until(lambda: sum(redis_client.xlen(s) for s in dlq) == 1, "the dead letter")
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert err.count(b"KeyError: 'boom'") == 2
    assert b"nacked" in err


def test_sys_exit_in_a_handler_thread_is_not_swallowed(
    nodes: list[str], redis_client: RedisCluster, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    _send(nodes, queue, 1)

    def handle(message: ami.Message) -> None:
        sys.exit(3)

    worker = _worker(handle, nodes, queue, concurrency=2)
    thread, result = _run_in_thread(worker)
    thread.join(30)
    assert not thread.is_alive(), "the worker should drain by itself"
    # The nack may bring it back to the other thread before the drain begins.
    assert result["stats"]["handled"] == 0
    assert result["stats"]["failed"] >= 1
    assert "the worker drains" in caplog.text
    # Nacked: still in the queue, for another delivery.
    assert total_length(redis_client, queue, SHARDS) == 1
