"""Acks delete exactly the acked entries, by the trimming script or by plain XDEL."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from helpers import check_acks_delete_exactly_the_acked_entries


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
