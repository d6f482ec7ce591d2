"""Where servers answer the same command differently, clients end the same way.

Redis 6.2 hands an entry deleted while pending to whoever claims it (XCLAIM answers nil
and moves it to the claimer); Redis 7.0 and Valkey drop it from the group instead.
"""

from __future__ import annotations

from redis.cluster import RedisCluster

import ami
from helpers import drain, stream_names, total_pending, wait_until


def test_an_entry_deleted_while_another_consumer_held_it_leaves_the_group(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send_many([b"a", b"b", b"c"])
    [stream] = stream_names(queue, 1)
    group = f"qu_{queue}_group"
    [[_, held]] = redis_client.xreadgroup(group, "dead", {stream: ">"})
    deleted = held[1][0]
    redis_client.xdel(stream, deleted)

    errors: list[ami.AmiError] = []
    with ami.Consumer(
        queue, consumer="live", nodes=nodes, shards=1, claim_idle=0.1, on_error=errors.append
    ) as consumer:
        received = drain(consumer, 2)
        wait_until(lambda: total_pending(redis_client, queue, 1) == 0, "an empty group")
        assert consumer.stats()["dropped_invalid"] in (0, 1)

    assert sorted(m.body for m in received) == [b"a", b"c"]
    reported = [e.id for e in errors if isinstance(e, ami.InvalidEntryError)]
    assert reported in ([], [deleted.decode()])
