"""Fault scenarios on the client side: a control run, SIGKILLed consumers and producers,
and a poison message, each with real producer and consumer processes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from faults.checker import (
    RECORDS_SUFFIX,
    assert_nothing_lost,
    check,
    complete_lines,
    leftovers,
    read_records,
)
from faults.workers import HELD_SUFFIX, Fleet, Specs, wait_for

SHARDS = 4
RUN_TIMEOUT = 200.0
# The small size is part of the smoke subset; the big one runs by default too.
SIZES = [
    pytest.param(10_000, id="10k", marks=pytest.mark.smoke),
    pytest.param(100_000, id="100k"),
]


def held_seqs(path: Path) -> set[int]:
    """Sequence numbers of the batch a hanging consumer held (``body id`` lines)."""
    return {int(line.split()[0].split(":")[1]) for line in complete_lines(path)}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", SIZES)
def test_control_run_without_faults(
    size: int, nodes: list[str], queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    started = time.monotonic()
    make = Specs(queue, nodes, run_id, run_dir, SHARDS)
    producer = fleet.producer(make.producer("producer", count=size))
    consumers = [fleet.consumer(make.consumer(name)) for name in ("c1", "c2")]
    assert producer.wait(RUN_TIMEOUT) == 0, fleet.describe()
    fleet.finish([producer, *consumers])

    report = check(f"0-control-{size}", run_dir, nodes, queue, SHARDS, run_id, started=started)
    assert_nothing_lost(report, fleet.describe())
    assert report.expected == report.sent == report.received == size
    assert report.duplicated == 0
    assert all(c.value("handled") > 0 for c in consumers), "both consumers should get work"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", SIZES)
def test_a_sigkilled_consumers_messages_go_to_another_consumer(
    size: int, nodes: list[str], queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    started = time.monotonic()
    make = Specs(queue, nodes, run_id, run_dir, SHARDS)
    producer = fleet.producer(make.producer("producer", count=size, batch=100))
    victim = fleet.consumer(
        make.consumer("victim", hold_after=size // 20, options={"claim_idle": None})
    )
    survivor = fleet.consumer(make.consumer("survivor", options={"claim_idle": 1.0}))
    wait_for(lambda: victim.value("holding") > 0, 60, "the victim to hold a batch", fleet)
    victim.kill(signal.SIGKILL)
    assert producer.wait(RUN_TIMEOUT) == 0, fleet.describe()
    fleet.finish([producer, survivor])

    scenario = f"1-sigkill-consumer-{size}"
    report = check(scenario, run_dir, nodes, queue, SHARDS, run_id, started=started)
    assert_nothing_lost(report, fleet.describe())
    assert report.expected == size
    held = held_seqs(run_dir / f"victim{HELD_SUFFIX}")
    taken_over = {r.seq for r in read_records(run_dir / f"survivor{RECORDS_SUFFIX}")}
    assert len(held) >= 100, f"the victim held only {len(held)} message(s)"
    assert held <= taken_over, f"held {len(held)}, survivor missed {held - taken_over}"
    assert survivor.status()["stats"]["claimed"] >= len(held)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("size", SIZES)
def test_every_message_a_sigkilled_producer_confirmed_is_consumable(
    size: int, nodes: list[str], queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    started = time.monotonic()
    make = Specs(queue, nodes, run_id, run_dir, SHARDS)
    victim = fleet.producer(make.producer("victim", batch=100, interval=0.002))
    consumer = fleet.consumer(make.consumer("consumer"))
    kill_at = size * 3 // 10
    wait_for(lambda: victim.value("confirmed") >= kill_at, 120, "confirmed messages", fleet)
    victim.kill(signal.SIGKILL)
    # The queue stays usable for a producer started after the crash.
    second = fleet.producer(make.producer("second", first_seq=10**9, count=size // 5))
    assert second.wait(RUN_TIMEOUT) == 0, fleet.describe()
    fleet.finish([consumer, second])

    scenario = f"2-sigkill-producer-{size}"
    report = check(scenario, run_dir, nodes, queue, SHARDS, run_id, started=started)
    assert_nothing_lost(report, fleet.describe())
    assert report.expected >= kill_at + size // 5


def test_a_poison_message_is_dead_lettered_while_the_rest_flow(
    nodes: list[str], queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    """Multi-process variant of the in-process test in tests/test_recovery.py: the poison
    message bounces between two consumer processes that both reject it."""
    started = time.monotonic()
    poison = [100, 1500]
    make = Specs(queue, nodes, run_id, run_dir, SHARDS)
    producer = fleet.producer(make.producer("producer", count=2000, poison=poison))
    options = {"claim_idle": 0.5, "max_deliveries": 3}
    consumers = [
        fleet.consumer(make.consumer(name, reject_poison=True, options=options))
        for name in ("c1", "c2")
    ]
    assert producer.wait(RUN_TIMEOUT) == 0, fleet.describe()
    wait_for(
        lambda: len(leftovers(nodes, queue, SHARDS).dead_letter_bodies) >= len(poison),
        60,
        "the poison messages to be dead-lettered",
        fleet,
    )
    fleet.finish(consumers)

    report = check(
        "6-poison", run_dir, nodes, queue, SHARDS, run_id, started=started, reject_poison=True
    )
    assert_nothing_lost(report, fleet.describe())
    assert report.dead_lettered == len(poison)
    assert report.received == 2000 - len(poison)
    assert sum(c.status()["stats"]["dead_lettered"] for c in consumers) == len(poison)
