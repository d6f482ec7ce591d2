"""The slot of a shard stream is migrated between masters (SETSLOT IMPORTING/MIGRATING,
MIGRATE ... KEYS, SETSLOT NODE) while a producer and consumers are running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SERVER

from ami.cluster import LocalCluster
from faults.chaos import fill_slot, keyslot, migrate_slot, slot_owner, slot_settled
from faults.checker import assert_nothing_lost, check, handled_since
from faults.workers import Fleet, Specs, WorkerProcess, wait_for

SHARDS = 10
MOVES = 4
# Other keys in the slot make each move take ~20 MIGRATE rounds (about a second) during
# which the stream may already be on the target while the slot is still migrating: ASK.
FILLER_KEYS = 2000
MIGRATE_PAUSE = 0.05


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: the test rewrites the slot map."""
    with LocalCluster(masters=3, server=SERVER) as local:
        yield local


def wait_for_traffic(
    producer: WorkerProcess, consumers: list[WorkerProcess], stream: str, fleet: Fleet
) -> None:
    """Waits until messages sent from now on were confirmed and handled from `stream`."""
    confirmed, since = producer.value("confirmed"), producer.value("next_seq")
    directory = fleet.directory
    wait_for(
        lambda: (
            producer.value("confirmed") >= confirmed + 1000
            and handled_since(directory, [c.name for c in consumers], stream, since) > 0
        ),
        90,
        f"traffic through {stream}",
        fleet,
    )


@pytest.mark.timeout(300)
def test_live_resharding_of_a_shard_slot_loses_nothing(
    cluster: LocalCluster, queue: str, run_id: str, run_dir: Path, fleet: Fleet
) -> None:
    started = time.monotonic()
    masters = cluster.nodes
    make = Specs(queue, masters, run_id, run_dir, SHARDS)
    producer = fleet.producer(make.producer("producer"))
    consumers = [
        fleet.consumer(make.consumer(name, options={"claim_idle": 5.0})) for name in ("c1", "c2")
    ]
    stream = f"qu{{0}}_{queue}"
    slot = keyslot(masters[0], stream)
    home = slot_owner(masters[0], slot)
    away = next(address for address in masters if address != home)
    fill_slot(home, "0", FILLER_KEYS)
    wait_for_traffic(producer, consumers, stream, fleet)

    for move in range(MOVES):
        source, target = (home, away) if move % 2 == 0 else (away, home)
        moved = migrate_slot(slot, source, target, masters, pause=MIGRATE_PAUSE)
        wait_for(lambda: slot_settled(masters, slot, target), 30, "the slot map", fleet)  # noqa: B023
        print(f"\nmove {move + 1}: slot {slot} {source} -> {target}, {moved} key(s)")
        wait_for_traffic(producer, consumers, stream, fleet)

    assert producer.alive() and all(c.alive() for c in consumers), fleet.describe()
    fleet.finish([producer, *consumers])
    report = check("4-live-resharding", run_dir, masters, queue, SHARDS, run_id, started=started)
    assert_nothing_lost(report, fleet.describe())
