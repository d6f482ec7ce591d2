"""A producer and a consumer started before their cluster exists wait for it
(``connect_timeout=30``) and work once it is up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import SERVER

from ami.cluster import pick_ports
from faults.chaos import FixedPortCluster, keyslot
from faults.checker import assert_nothing_lost, check
from faults.workers import Fleet, Specs, WorkerProcess, wait_for

SHARDS = 4
MESSAGES = 2000
EARLY = 3.0  # how long the clients wait for the cluster before it is formed
CONNECT = {"connect_timeout": 30.0}


def ready(worker: WorkerProcess) -> bool:
    """Whether the worker's client finished connecting."""
    return bool(worker.status().get("ready"))


def queue_outside(cluster: FixedPortCluster, queue: str, last_slot: int) -> str:
    """A queue name derived from `queue` whose ``qu_NAME_shards`` key hashes beyond
    `last_slot`, i.e. to a slot no node serves yet."""
    seed = f"127.0.0.1:{cluster.ports[0]}"
    for index in range(1000):
        name = f"{queue}x{index}"
        if keyslot(seed, f"qu_{name}_shards") > last_slot:
            return name
    raise AssertionError("no queue name found")


@pytest.mark.smoke
@pytest.mark.parametrize(
    "stage",
    [
        "nothing-listening",
        "servers-without-slots",
        "partial-slot-map",
    ],
)
def test_clients_started_before_the_cluster_become_ready(
    stage: str, queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    """``nothing-listening``: connections are refused until the servers start.
    ``servers-without-slots``: the servers answer but serve no slot and know no peer
    until after the clients started. ``partial-slot-map``: the first master already
    serves its slots (not those of the queue's shard-count key), the rest come later."""
    started = time.monotonic()
    ports = pick_ports(3)
    nodes = [f"127.0.0.1:{port}" for port in ports]
    cluster = FixedPortCluster(ports, server=SERVER)
    try:
        if stage != "nothing-listening":
            cluster.launch()
        if stage == "partial-slot-map":
            queue = queue_outside(cluster, queue, cluster.preassign(1)[1])
        make = Specs(queue, nodes, run_id, run_dir, SHARDS)
        producer = fleet.producer(make.producer("producer", count=MESSAGES, options=CONNECT))
        consumer = fleet.consumer(make.consumer("consumer", options=CONNECT))
        time.sleep(EARLY)
        assert producer.alive() and consumer.alive(), fleet.describe()
        assert not ready(producer) and not ready(consumer), "ready without a cluster?"
        if stage == "nothing-listening":
            cluster.launch()
        cluster.form()
        wait_for(
            lambda: all(ready(w) or w.crashed() for w in (producer, consumer)),
            30,
            "the clients to connect or fail",
        )
        assert ready(producer) and ready(consumer), fleet.describe()
        assert producer.wait(60) == 0, fleet.describe()
        fleet.finish([producer, consumer])
        report = check(f"7-startup-{stage}", run_dir, nodes, queue, SHARDS, run_id, started=started)
    finally:
        cluster.stop()
    assert_nothing_lost(report, fleet.describe())
    assert report.expected == report.received == MESSAGES
    assert report.duplicated == 0
    assert consumer.value("handled") == MESSAGES
