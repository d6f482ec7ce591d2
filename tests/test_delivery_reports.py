"""Delivery reports: one per batch, each message's entry id or why it failed, handled
before `flush` returns, from sync and asyncio code, through stalls and kills."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import stream_names

SHARDS = 3
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def _entries(redis_client: RedisCluster, queue: str, shards: int) -> dict[str, dict[str, bytes]]:
    """Every entry of the queue: stream -> id -> body."""
    return {
        stream: {i.decode(): f[b"m"] for i, f in redis_client.xrange(stream)}
        for stream in stream_names(queue, shards)
    }


def _id_order(entry_id: str | None) -> tuple[int, int]:
    assert entry_id is not None
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def test_every_message_is_reported_once_with_its_entry_id(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    reports: list[ami.DeliveryReport] = []
    options = {"nodes": nodes, "shards": SHARDS, "pipe_buffer_size": 700}
    with ami.Producer(queue, on_delivery=reports.append, **options) as producer:
        producer.send_many([b"many-%d" % i for i in range(5000)])
        for i in range(500):
            producer.send(b"one-%d" % i, key=str(i % 7), headers={"i": str(i)} if i % 2 else None)
        assert producer.flush(10.0) == 0
        assert sum(len(r) for r in reports) == 5500  # all handled when flush returns
    assert all(r.error is None and r.failed == 0 and r.written == len(r) for r in reports)
    entries = _entries(redis_client, queue, SHARDS)
    reported: dict[str, dict[str, bytes]] = {s: {} for s in entries}
    for report in reports:
        assert report.stream == stream_names(queue, SHARDS)[report.shard]
        for entry_id, body, headers in zip(report.ids, report.bodies, report.headers, strict=True):
            assert entry_id is not None
            reported[report.stream][entry_id] = body
            number = int(body.rpartition(b"-")[2])
            assert headers == (
                {"i": str(number).encode()} if body.startswith(b"one") and number % 2 else {}
            )
    assert reported == entries


def test_flush_and_close_wait_for_a_slow_handler(nodes: list[str], queue: str) -> None:
    handled = []

    def slow(report: ami.DeliveryReport) -> None:
        time.sleep(0.2)
        handled.append(len(report))

    producer = ami.Producer(queue, nodes=nodes, shards=SHARDS, on_delivery=slow)
    producer.send(b"a")
    time.sleep(0.05)  # written, its report in the handler
    producer.send(b"b")
    assert producer.flush(0.01) > 0  # the reports are not handled yet
    assert producer.flush(5.0) == 0
    assert sum(handled) == 2
    producer.send_many([b"c", b"d"])
    producer.close()
    assert sum(handled) == 4


def test_a_slow_handler_fills_the_buffer_instead_of_memory(nodes: list[str], queue: str) -> None:
    release = threading.Event()
    producer = ami.Producer(
        queue,
        nodes=nodes,
        shards=1,
        pending_buffer_size=10,
        send_timeout=0.3,
        on_delivery=lambda report: release.wait(5.0),
    )
    producer.send_many([b"x"] * 10)
    with pytest.raises(ami.OperationTimeout):
        producer.send(b"one too many")
    release.set()
    producer.send(b"now there is room")
    producer.close()


def test_a_handler_that_raises_is_logged_and_reports_go_on(
    nodes: list[str], queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen = []

    def failing(report: ami.DeliveryReport) -> None:
        seen.append(len(report))
        raise RuntimeError("handler bug")

    with (
        caplog.at_level(logging.ERROR, logger="ami"),
        ami.Producer(queue, nodes=nodes, shards=SHARDS, on_delivery=failing) as producer,
    ):
        producer.send(b"a")
        assert producer.flush(5.0) == 0
        producer.send(b"b")
    assert sum(seen) == 2
    assert "on_delivery handler raised" in caplog.text


def test_flush_and_close_from_the_handler_do_not_deadlock(nodes: list[str], queue: str) -> None:
    results = []
    producer: ami.Producer | None = None

    def handler(report: ami.DeliveryReport) -> None:
        assert producer is not None
        results.append(producer.flush())  # returns at once: this report is not handled yet
        producer.close()

    producer = ami.Producer(queue, nodes=nodes, shards=SHARDS, on_delivery=handler)
    producer.send(b"a")
    deadline = time.monotonic() + 5.0
    while not results and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results == [1]
    assert producer.closed
    producer.close()


def test_a_failed_batch_is_reported_with_its_error(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    [stream] = stream_names(queue, 1)
    reports: list[ami.DeliveryReport] = []
    with ami.Producer(
        queue, nodes=nodes, shards=1, create_group=False, on_delivery=reports.append
    ) as producer:
        redis_client.set(stream, "not a stream")
        producer.send_many([b"a", b"b"], headers={"h": "1"})
        with pytest.raises(ami.DeliveryError):
            producer.flush(10.0)
    # One batch or two (the first message goes at once, the second behind it).
    assert sum(len(r) for r in reports) == sum(r.failed for r in reports) == 2
    assert all(r.written == 0 for r in reports)
    assert [i for r in reports for i in r.ids] == [None, None]
    for report in reports:
        assert isinstance(report.error, ami.ServerError)
        assert report.error.code == "WRONGTYPE"
    assert sorted(b for r in reports for b in r.bodies) == [b"a", b"b"]  # to log or re-route
    assert [h for r in reports for h in r.headers] == [{"h": b"1"}, {"h": b"1"}]


def test_reports_wait_out_a_paused_master(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    [stream] = stream_names(queue, 1)
    master = redis_client.get_redis_connection(redis_client.get_node_from_key(stream))
    reports: list[ami.DeliveryReport] = []
    with ami.Producer(queue, nodes=nodes, shards=1, on_delivery=reports.append) as producer:
        master.execute_command("CLIENT", "PAUSE", 1000, "WRITE")
        try:
            paused_at = time.monotonic()
            producer.send_many([b"%d" % i for i in range(100)])
            assert producer.flush(0.3) == 100
            assert reports == []
        finally:
            assert producer.flush(10.0) == 0
            master.execute_command("CLIENT", "UNPAUSE")
        assert time.monotonic() - paused_at >= 0.9
    # Batches are reported as they finish, not necessarily in the order they were sent.
    ids = sorted((i for r in reports for i in r.ids), key=_id_order)
    assert ids == [i.decode() for i, _ in redis_client.xrange(stream)]


def test_close_with_reports_pending_hands_them_all_over(nodes: list[str], queue: str) -> None:
    count = [0]

    def handler(report: ami.DeliveryReport) -> None:
        time.sleep(0.01)
        count[0] += len(report)

    producer = ami.Producer(
        queue, nodes=nodes, shards=SHARDS, pipe_buffer_size=100, on_delivery=handler
    )
    producer.send_many([b"x"] * 20_000)
    producer.close()
    assert count[0] == 20_000


def test_a_killed_producer_reports_only_what_it_wrote(
    nodes: list[str], redis_client: RedisCluster, queue: str, tmp_path: Path
) -> None:
    """Killed mid-stream: every id it reported is in the queue (the rest may or may not be)."""
    out = tmp_path / "ids"
    script = textwrap.dedent(
        f"""
        import os, sys, ami
        out = open({str(out)!r}, "a")
        def report(r):
            out.write("".join(f"{{r.stream}} {{i}}\\n" for i in r.ids if i))
            out.flush()
        p = ami.Producer({queue!r}, nodes={nodes!r}, shards={SHARDS}, pipe_buffer_size=1000,
                         on_delivery=report)
        while True:
            p.send_many([b"x"] * 1000)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 20.0
        while (not out.exists() or out.stat().st_size < 200_000) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    written = out.read_text()
    # The kill can land in the middle of a write: only lines that end are whole.
    lines = written[: written.rfind("\n") + 1].splitlines()
    assert len(lines) > 5_000
    entries = _entries(redis_client, queue, SHARDS)
    for line in lines:
        stream, entry_id = line.split(" ")
        assert entry_id in entries[stream]


def test_async_reports_run_on_the_event_loop(nodes: list[str], queue: str) -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        delivered: dict[bytes, asyncio.Future[str]] = {}
        threads = set()

        async def on_delivery(report: ami.DeliveryReport) -> None:
            threads.add(threading.get_ident())
            await asyncio.sleep(0)
            for body, entry_id in zip(report.bodies, report.ids, strict=True):
                assert entry_id is not None
                delivered[body].set_result(entry_id)

        async with ami.AsyncProducer(
            queue, nodes=nodes, shards=SHARDS, on_delivery=on_delivery
        ) as producer:
            for body in (b"a", b"b", b"c"):
                delivered[body] = asyncio.get_running_loop().create_future()
            await producer.send(b"a", key="k")
            await producer.send_many([b"b", b"c"])
            ids = await asyncio.wait_for(asyncio.gather(*delivered.values()), 5.0)
            assert all("-" in i for i in ids)
            assert await producer.flush(5.0) == 0
        assert threads == {loop_thread}

    asyncio.run(main())


def test_on_delivery_must_be_callable(nodes: list[str], queue: str) -> None:
    with pytest.raises(ami.ConfigError, match="on_delivery"):
        ami.Producer(queue, nodes=nodes, on_delivery="print")  # type: ignore[arg-type]
