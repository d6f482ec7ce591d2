"""The slot of a shard stream is migrated between masters (SETSLOT IMPORTING/MIGRATING,
MIGRATE ... KEYS, SETSLOT NODE) while a producer and consumers are running, in both
layouts; in the spread one the producer balances over masters, so its grouping of the
shards follows the move too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SERVER

import ami
from ami import _ami
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
    """A cluster of its own: the test rewrites the slot map. Six masters, so that the
    spread layout's shards are on every one of them."""
    with LocalCluster(masters=6, server=SERVER) as local:
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


# The spread layout's producer also balances over masters, which regroups after moves.
PRODUCER_OPTIONS = {"go": {}, "spread": {"layout": "spread", "balance_masters": True}}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("layout", ["go", "spread"])
def test_live_resharding_of_a_shard_slot_loses_nothing(
    cluster: LocalCluster, queue: str, run_id: str, run_dir: Path, fleet: Fleet, layout: str
) -> None:
    started = time.monotonic()
    masters = cluster.nodes
    make = Specs(queue, masters, run_id, run_dir, SHARDS)
    # The queue is created here, so its offset is recorded before the fleet starts.
    with ami.Producer(queue, nodes=masters, shards=SHARDS, layout=layout, create_group=False):
        pass
    offset = ami.inspect(queue, nodes=masters).offset
    producer = fleet.producer(make.producer("producer", options=PRODUCER_OPTIONS[layout]))
    consumer_options = {"claim_idle": 5.0, "layout": layout}
    consumers = [
        fleet.consumer(make.consumer(name, options=consumer_options)) for name in ("c1", "c2")
    ]
    stream = _ami.stream_name(queue, 0, SHARDS, layout, offset)
    slot = keyslot(masters[0], stream)
    home = slot_owner(masters[0], slot)
    away = next(address for address in masters if address != home)
    fill_slot(home, stream[stream.index("{") + 1 : stream.index("}")], FILLER_KEYS)
    wait_for_traffic(producer, consumers, stream, fleet)

    for move in range(MOVES):
        source, target = (home, away) if move % 2 == 0 else (away, home)
        moved = migrate_slot(slot, source, target, masters, pause=MIGRATE_PAUSE)
        wait_for(lambda: slot_settled(masters, slot, target), 30, "the slot map", fleet)  # noqa: B023
        print(f"\nmove {move + 1}: slot {slot} {source} -> {target}, {moved} key(s)")
        wait_for_traffic(producer, consumers, stream, fleet)

    assert producer.alive() and all(c.alive() for c in consumers), fleet.describe()
    fleet.finish([producer, *consumers])
    # MOVED, ASK, TRYAGAIN and the like are passing: on_error may hear of them, but as
    # TransientError, never as the ServerError that users alarm on.
    hard = {
        consumer.name: {
            kind: count
            for kind, count in consumer.status().get("errors", {}).items()
            if kind.startswith("ServerError:")
        }
        for consumer in consumers
    }
    assert not any(hard.values()), f"hard errors during the migration: {hard}\n{fleet.summary()}"
    report = check(
        f"4-live-resharding-{layout}",
        run_dir,
        masters,
        queue,
        SHARDS,
        run_id,
        started=started,
        layout=layout,
    )
    assert_nothing_lost(report, fleet.describe())
