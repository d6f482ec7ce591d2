"""A master is SIGKILLed under load; its replica takes over while the same producer
(``wait_replicas=1``) and consumer processes keep running."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SERVER

from ami.cluster import LocalCluster
from faults.chaos import failed_over, keyslot, slot_owner
from faults.checker import assert_nothing_lost, check, handled_since
from faults.workers import Fleet, Specs, WorkerProcess, wait_for

SHARDS = 10
FAILOVER_TIMEOUT = 60.0


@pytest.fixture
def replicated() -> Iterator[LocalCluster]:
    """3 masters; the first has two replicas, so after its failover the new master still
    has a replica and ``WAIT 1`` can succeed again. Replicas always fail over
    (validity factor 0)."""
    with LocalCluster(
        masters=3,
        replicas=4,
        server=SERVER,
        node_timeout_ms=2000,
        extra_config={"cluster-replica-validity-factor": "0"},
    ) as cluster:
        yield cluster


def handled(consumers: list[WorkerProcess]) -> int:
    """Messages handled by the consumers so far."""
    return sum(c.value("handled") for c in consumers)


@pytest.mark.timeout(300)
def test_master_failover_under_load_loses_no_confirmed_message(
    replicated: LocalCluster, queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    started = time.monotonic()
    seed = replicated.nodes[0]
    make = Specs(queue, replicated.nodes, run_id, run_dir, SHARDS)
    producer = fleet.producer(
        make.producer("producer", options={"wait_replicas": 1, "delivery_timeout": 60.0})
    )
    consumers = [
        fleet.consumer(make.consumer(name, options={"claim_idle": 5.0})) for name in ("c1", "c2")
    ]
    wait_for(
        lambda: producer.value("confirmed") >= 2000 and handled(consumers) >= 1000,
        60,
        "traffic before the failover",
        fleet,
    )

    # The first master has the two replicas; fail over one of its shard streams.
    victim = replicated.nodes[0]
    stream = next(
        f"qu{{{i}}}_{queue}"
        for i in range(SHARDS)
        if slot_owner(seed, keyslot(seed, f"qu{{{i}}}_{queue}")) == victim
    )
    slot = keyslot(seed, stream)
    replicated.kill_node(victim, signal.SIGKILL)
    killed = time.monotonic()
    live = [address for address in replicated.all_nodes if address != victim]
    wait_for(lambda: failed_over(live, victim, slot), FAILOVER_TIMEOUT, "the failover", fleet)
    failover_seconds = time.monotonic() - killed
    print(f"\nfailover of {victim} took {failover_seconds:.1f} s")

    # The same processes carry on, the failed-over shard included.
    confirmed, done = producer.value("confirmed"), handled(consumers)
    next_seq = producer.value("next_seq")
    wait_for(
        lambda: (
            producer.value("confirmed") >= confirmed + 3000
            and handled(consumers) >= done + 3000
            and handled_since(run_dir, [c.name for c in consumers], stream, next_seq) > 0
        ),
        90,
        "traffic after the failover (through the same processes)",
        fleet,
    )
    assert producer.alive() and all(c.alive() for c in consumers), fleet.describe()
    fleet.finish([producer, *consumers])

    report = check("3-master-failover", run_dir, live, queue, SHARDS, run_id, started=started)
    assert_nothing_lost(report, fleet.describe())
    assert report.expected >= 5000
