"""Masters at ``maxmemory`` (noeviction) refuse XADD with OOM: the producer process
retries, reports the failure after its short deadline, keeps its memory bounded and
recovers once memory is available again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SERVER

from ami.cluster import LocalCluster
from faults.chaos import set_maxmemory
from faults.checker import assert_nothing_lost, check
from faults.workers import Fleet, Specs, WorkerProcess, wait_for

SHARDS = 10
DELIVERY_TIMEOUT = 3.0
FAILED_BATCHES = 3
REPORT_SLACK = 7.0  # a batch may start just before the limit; the machine is noisy
RSS_LIMIT_KB = 500 * 1024


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: the test changes the masters' memory limit."""
    with LocalCluster(masters=3, server=SERVER) as local:
        yield local


def oom_errors(worker: WorkerProcess) -> bool:
    """Whether the worker's `on_error` was told of OOM errors, retried ones."""
    errors: dict[str, Any] = worker.status().get("errors", {})
    return int(errors.get("TransientError:OOM", 0)) > 0


@pytest.mark.timeout(300)
def test_a_producer_backs_off_reports_and_recovers_from_oom(
    cluster: LocalCluster, queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    started = time.monotonic()
    masters = cluster.nodes
    make = Specs(queue, masters, run_id, run_dir, SHARDS)
    producer = fleet.producer(
        make.producer(
            "producer", batch=1000, pad=500, options={"delivery_timeout": DELIVERY_TIMEOUT}
        )
    )
    consumer = fleet.consumer(make.consumer("consumer"))
    wait_for(lambda: producer.value("confirmed") >= 2000, 60, "traffic before OOM", fleet)

    set_maxmemory(masters, "1")
    try:
        # The first failure is reported about `delivery_timeout` after the limit.
        wait_for(
            lambda: producer.value("delivery_errors") > 0,
            DELIVERY_TIMEOUT + REPORT_SLACK,
            "the first DeliveryError",
            fleet,
        )
        wait_for(
            lambda: producer.value("delivery_errors") >= FAILED_BATCHES and oom_errors(producer),
            60,
            f"{FAILED_BATCHES} batches failed with OOM",
            fleet,
        )
        assert producer.alive(), fleet.describe()
    finally:
        set_maxmemory(masters, "0")
    confirmed = producer.value("confirmed")
    wait_for(
        lambda: producer.value("confirmed") >= confirmed + 3000, 60, "recovery from OOM", fleet
    )
    fleet.finish([producer, consumer])

    report = check("5-oom", run_dir, masters, queue, SHARDS, run_id, started=started)
    assert_nothing_lost(report, fleet.describe())
    status, stats = producer.status(), producer.status()["stats"]
    # Every accepted message was either written or reported failed (DeliveryError), and
    # parts of a failed range may have been written before the limit: the worker only
    # counts ranges whose flush returned 0 as confirmed.
    assert status["delivery_errors"] >= FAILED_BATCHES
    assert 0 < status["failed"] == stats["failed"] <= report.sent - report.expected
    assert stats["accepted"] == stats["confirmed"] + stats["failed"] == report.sent
    assert report.received >= stats["confirmed"]
    assert status["max_rss_kb"] < RSS_LIMIT_KB, f"producer RSS {status['max_rss_kb']} KiB"
