"""Acks delete exactly the acked entries, by the trimming script or by plain XDEL."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import check_acks_delete_exactly_the_acked_entries, stream_names


def script_calls(client: RedisCluster) -> int:
    stats = client.info("commandstats", target_nodes=RedisCluster.ALL_NODES)
    return sum(node.get("cmdstat_eval", {}).get("calls", 0) for node in stats.values())


@pytest.mark.parametrize("trim_acked", [True, False], ids=["trim", "xdel"])
def test_acks_delete_exactly_the_acked_entries(
    nodes: list[str], redis_client: RedisCluster, queue: str, trim_acked: bool
) -> None:
    calls_before = script_calls(redis_client)
    check_acks_delete_exactly_the_acked_entries(nodes, redis_client, queue, trim_acked=trim_acked)
    assert (script_calls(redis_client) > calls_before) == trim_acked


def test_trimming_respects_id_order_across_digit_counts(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    [stream] = stream_names(queue, 1)
    group = f"qu_{queue}_group"
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    for entry_id in ("5-9", "5-10", "5-18446744073709551615", "6-0", "10-0"):
        redis_client.xadd(stream, {"m": entry_id}, id=entry_id)
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1, prefetch_count=1) as consumer:
        for expected_left in (4, 3, 2, 1, 0):
            [message] = consumer.consume(1, timeout=5.0)
            consumer.ack(message)
            assert consumer.flush(5.0) == 0
            left = [entry_id.decode() for entry_id, _ in redis_client.xrange(stream)]
            assert len(left) == expected_left, left
            assert message.id not in left
