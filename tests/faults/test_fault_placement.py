"""`balance_masters` follows a shard's slot to another master: once the producer has
regrouped its shards, every master again gets an equal share of new messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from conftest import SERVER

import ami
from ami.cluster import LocalCluster
from faults.chaos import command, keyslot, migrate_slot, slot_owner, slot_settled
from faults.workers import wait_for

SHARDS = 10
WINDOW = 6000
BATCH = 100


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: the test rewrites the slot map."""
    with LocalCluster(masters=3, server=SERVER) as local:
        yield local


def owners(masters: list[str], streams: list[str]) -> dict[str, str]:
    return {stream: slot_owner(masters[0], keyslot(masters[0], stream)) for stream in streams}


def lengths(masters: list[str], streams: list[str]) -> Counter[str]:
    per_master: Counter[str] = Counter()
    for stream, owner in owners(masters, streams).items():
        per_master[owner] += int(command(owner, "XLEN", stream))
    return per_master


@pytest.mark.timeout(120)
def test_balance_masters_regroups_after_a_slot_moves(cluster: LocalCluster, queue: str) -> None:
    masters = cluster.nodes
    streams = [f"qu{{{i}}}_{queue}" for i in range(SHARDS)]
    with ami.Producer(
        queue, nodes=masters, shards=SHARDS, pipe_buffer_size=BATCH, balance_masters=True
    ) as producer:
        shards_per_master = Counter(owners(masters, streams).values())
        crowded, _ = shards_per_master.most_common()[0]
        sparse, _ = shards_per_master.most_common()[-1]
        moved = next(s for s, owner in owners(masters, streams).items() if owner == crowded)
        slot = keyslot(masters[0], moved)
        migrate_slot(slot, crowded, sparse, masters)
        wait_for(lambda: slot_settled(masters, slot, sparse), 30, f"slot {slot} on {sparse}")

        window_shares: list[Counter[str]] = []

        def shares_are_equal() -> bool:
            before = lengths(masters, streams)
            producer.send_many([b"x"] * WINDOW)
            assert producer.flush(30.0) == 0
            shares = lengths(masters, streams) - before
            window_shares.append(shares)
            return len(shares) == 3 and max(shares.values()) - min(shares.values()) <= 3 * BATCH

        wait_for(shares_are_equal, 60, "equal shares after the slot moved")
    # Right after the move the producer still groups by the old holders, so the master
    # that received the shard gets its own third plus part of another's.
    first = window_shares[0]
    assert max(first.values()) - min(first.values()) > 3 * BATCH, window_shares
