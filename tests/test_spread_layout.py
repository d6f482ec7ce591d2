"""The spread layout on a cluster of six masters: every queue's shards evenly over every
master, the layout recorded so that clients configured otherwise refuse to start, and
``ami stats`` showing which master holds which shard."""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest
from redis.cluster import RedisCluster

import ami
from ami import _ami, cli
from helpers import drain

MASTERS = 6  # as the six_masters fixture starts
SHARDS = 10
QUEUES = 20
# The bar: the busiest master carries at most 1.25 times its fair share.
FAIR_SHARE_SLACK = 1.25


def spread_streams(queue: str, nodes: list[str], shards: int = SHARDS) -> list[str]:
    """The streams of a spread queue, on the offset it recorded."""
    offset = ami.inspect(queue, nodes=nodes).offset
    return [_ami.stream_name(queue, i, shards, "spread", offset) for i in range(shards)]


def busiest_over_fair(shards_per_master: Counter[str], shards: int) -> float:
    """The busiest master's shards over the fair share, ``shards / MASTERS``."""
    return max(shards_per_master.values()) / (shards / MASTERS)


def test_a_spread_queue_carries_every_message_and_records_its_layout(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    options = {"nodes": six_masters, "shards": SHARDS, "layout": "spread"}
    bodies = [b"%d" % i for i in range(20_000)]
    with ami.Producer(queue, **options) as producer:
        producer.send_many(bodies)
    with ami.Consumer(queue, consumer="c", **options) as consumer:
        assert consumer.streams == spread_streams(queue, six_masters)
        received = drain(consumer, len(bodies))

    assert sorted(m.body for m in received) == sorted(bodies)
    assert {m.stream for m in received} == set(spread_streams(queue, six_masters))
    offset = ami.inspect(queue, nodes=six_masters).offset
    assert six_masters_client.get(f"qu_{queue}_shards") == b"10 spread %d" % offset
    assert not any(six_masters_client.exists(f"qu{{{i}}}_{queue}") for i in range(SHARDS))


@pytest.mark.parametrize(
    ("first", "then", "option"),
    [
        ({"layout": "spread"}, {}, "layout"),
        ({}, {"layout": "spread"}, "layout"),
        ({"layout": "spread"}, {"layout": "spread", "shards": 12}, "shards"),
    ],
)
def test_a_client_configured_otherwise_fails_at_start(
    six_masters: list[str],
    queue: str,
    first: dict[str, object],
    then: dict[str, object],
    option: str,
) -> None:
    with ami.Producer(queue, nodes=six_masters, **first):
        pass
    recorded = 'shards=10 layout="spread"' if first else "shards=10"
    for client_class in (ami.Producer, ami.Consumer):
        extra = {"consumer": "c"} if client_class is ami.Consumer else {}
        with pytest.raises(ami.ConfigError) as raised:
            client_class(queue, nodes=six_masters, **extra, **then)
        assert raised.value.option == option
        assert recorded in str(raised.value)
    with pytest.raises(ami.ConfigError):
        ami.inspect(
            queue,
            nodes=six_masters,
            shards=then.get("shards", SHARDS),  # type: ignore[arg-type]
            layout=then.get("layout", "go"),  # type: ignore[arg-type]
        )


def test_tools_take_the_recorded_layout(six_masters: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=six_masters, layout="spread") as producer:
        producer.send_many([b"a", b"b", b"c"])
    stats = ami.inspect(queue, nodes=six_masters)
    assert stats.layout == "spread"
    assert [shard.stream for shard in stats.shards] == spread_streams(queue, six_masters)
    assert stats.length == 3
    tailed = list(ami.ops.tail(queue, count=10, nodes=six_masters))
    assert sorted(entry.body or b"" for entry in tailed) == [b"a", b"b", b"c"]
    assert {entry.stream for entry in tailed} <= set(spread_streams(queue, six_masters))
    with ami.DeadLetters(queue, nodes=six_masters) as letters:
        assert letters.count() == 0


def test_a_poison_message_moves_to_the_dead_letter_stream_on_its_shards_slot(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    options = {"nodes": six_masters, "shards": 3, "layout": "spread"}
    with ami.Producer(queue, **options) as producer:
        producer.send(b"poison")
    consumer_options = {**options, "max_deliveries": 1, "claim_idle": 0.2}
    with ami.Consumer(queue, consumer="c", **consumer_options) as consumer:
        [message] = consumer.consume(1, timeout=5.0)
        # Never acked: claimed again after claim_idle and, past max_deliveries, moved.
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and not consumer.stats()["dead_lettered"]:
            consumer.consume(1, timeout=0.2)
    with ami.DeadLetters(queue, nodes=six_masters) as letters:
        [letter] = letters.list()
    offset = ami.inspect(queue, nodes=six_masters).offset
    shard = spread_streams(queue, six_masters, 3).index(message.stream)
    assert letter.dead_letter_stream == _ami.dead_letter_stream_name(
        queue, shard, 3, "spread", offset
    )
    assert letter.body == b"poison"
    slot = six_masters_client.keyslot(letter.dead_letter_stream)
    assert (
        slot
        == six_masters_client.keyslot(message.stream)
        == _ami.shard_slot(queue, shard, 3, "spread", offset)
    )


def shards_per_master(six_masters: list[str], queues: list[str]) -> Counter[str]:
    held: Counter[str] = Counter()
    for name in queues:
        for shard in ami.inspect(name, nodes=six_masters).shards:
            assert shard.master in six_masters
            held[shard.master] += 1
    return held


def test_one_queue_is_spread_within_the_fair_share(six_masters: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=six_masters, layout="spread"):
        pass
    held = shards_per_master(six_masters, [queue])
    assert len(held) == MASTERS
    assert max(held.values()) == math.ceil(SHARDS / MASTERS)
    assert busiest_over_fair(held, SHARDS) <= FAIR_SHARE_SLACK

    go_queue = f"{queue}go"
    with ami.Producer(go_queue, nodes=six_masters):
        pass
    # The Go layout's tags put 3 of 10 shards on two masters and none on two others.
    assert busiest_over_fair(shards_per_master(six_masters, [go_queue]), SHARDS) > 1.5


def test_twenty_queues_are_spread_within_the_fair_share(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    # Only these queues count: the other tests' queues leave the list of spread queues.
    six_masters_client.delete("qu_spread_offsets")
    queues = [f"{queue}-{i}" for i in range(QUEUES)]
    for name in queues:
        with ami.Producer(name, nodes=six_masters, layout="spread", create_group=False):
            pass
    held = shards_per_master(six_masters, queues)
    assert sum(held.values()) == QUEUES * SHARDS
    assert busiest_over_fair(held, QUEUES * SHARDS) <= FAIR_SHARE_SLACK


def test_stats_shows_each_masters_shards(
    six_masters: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ami.Producer(queue, nodes=six_masters, layout="spread") as producer:
        producer.send_many([b"x"] * 100)

    assert cli.main(["stats", queue, "--nodes", ",".join(six_masters)]) == 0

    lines = capsys.readouterr().out.splitlines()
    offset = ami.inspect(queue, nodes=six_masters).offset
    assert lines[0].endswith(f"shards {SHARDS}  layout spread  offset {offset}")
    shard_rows = [line.split() for line in lines[3 : 3 + SHARDS]]
    assert [row[0] for row in shard_rows] == spread_streams(queue, six_masters)
    start = lines.index("", 4 + SHARDS) + 1
    masters = [line.split() for line in lines[start : lines.index("", start)]]
    assert masters[0] == ["MASTER", "SHARDS", "HELD"]
    assert sorted(row[0] for row in masters[1:]) == sorted(six_masters)
    for master, count, *held in masters[1:]:
        assert int(count) == len(held) <= math.ceil(SHARDS / MASTERS)
        assert all(shard_rows[int(i)][1] == master for i in held)


def test_the_computed_table_agrees_with_the_cluster(six_masters: list[str], queue: str) -> None:
    from ami.bench.spread import computed

    with ami.Producer(queue, nodes=six_masters, layout="spread", create_group=False):
        pass
    held = shards_per_master(six_masters, [queue])
    row = computed("spread", MASTERS, 1, SHARDS)
    assert (row.used, row.busiest, row.fair) == (len(held), max(held.values()), 2)
    assert computed("go", 30, 1, SHARDS).used == 5
    assert computed("spread", 30, 1, SHARDS).busiest == 1


def test_a_queue_of_go_ami_clients_refuses_the_spread_layout(
    six_masters: list[str], six_masters_client: RedisCluster, queue: str
) -> None:
    # What Go ami clients leave: shard streams with the group, and no recorded count.
    six_masters_client.xgroup_create(f"qu{{0}}_{queue}", f"qu_{queue}_group", mkstream=True)
    six_masters_client.xadd(f"qu{{0}}_{queue}", {"m": b"from go"})
    with pytest.raises(ami.ConfigError) as raised:
        ami.Producer(queue, nodes=six_masters, layout="spread")
    assert raised.value.option == "layout"
    assert f"qu{{0}}_{queue}" in str(raised.value)
    assert six_masters_client.get(f"qu_{queue}_shards") is None
    with ami.Consumer(queue, consumer="c", nodes=six_masters, shards=SHARDS) as consumer:
        assert [m.body for m in drain(consumer, 1)] == [b"from go"]
