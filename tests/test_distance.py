"""The distance benchmark's parts: the delay proxy, announced ports, and its table."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from conftest import SERVER

from ami.bench.delay_proxy import DelayProxy
from ami.bench.distance import DistanceSample, measure_path
from ami.bench.report import Results, distance_summary
from ami.cluster import LocalCluster
from ami.cluster.announce import announcing
from ami.cluster.resp import connect

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: its nodes are reconfigured."""
    with LocalCluster(masters=3, server=SERVER) as cluster:
        yield cluster


def _client_ports(address: str) -> set[int]:
    host, port = address.rsplit(":", 1)
    with connect(host, int(port)) as conn:
        slots = conn.command("CLUSTER", "SLOTS")
    assert isinstance(slots, list)
    return {
        node[1]
        for shard in slots
        if isinstance(shard, list)
        for node in shard[2:]
        if isinstance(node, list) and isinstance(node[1], int)
    }


def test_the_proxy_delays_both_ways_and_keeps_every_byte(cluster: LocalCluster) -> None:
    payload = os.urandom(3 << 20)
    with DelayProxy(cluster.nodes, rtt=0.04) as proxy:
        host, port = proxy.seeds[0].rsplit(":", 1)
        with connect(host, int(port)) as conn:
            assert conn.command("ECHO", payload) == payload
            started = time.perf_counter()
            assert conn.command("PING") == b"PONG"
            assert time.perf_counter() - started >= 0.04
            proxy.set_rtt(0.0)
            assert conn.command("ECHO", payload) == payload


def test_nodes_announce_the_proxy_while_the_block_runs(cluster: LocalCluster) -> None:
    if cluster.server_name == "redis" and cluster.server_version.startswith("6."):
        pytest.skip("Redis 6.2 keeps its own port in its own CLUSTER SLOTS when set at run time")
    own = {int(address.rsplit(":", 1)[1]) for address in cluster.nodes}
    with DelayProxy(cluster.nodes) as proxy, announcing(proxy.ports):
        assert all(_client_ports(address) == set(proxy.ports.values()) for address in cluster.nodes)
        sample = measure_path(proxy.seeds, f"t{uuid.uuid4().hex[:12]}", 2_000, 0.0)
        assert sample.produce_msg_per_s > 0
        assert sample.consume_msg_per_s > 0
    assert all(_client_ports(address) == own for address in cluster.nodes)


def test_the_distance_table_compares_each_row_with_loopback() -> None:
    results = Results()
    for rtt_ms, produce, consume in ((None, 100.0, 80.0), (50.0, 50.0, 20.0), (None, 120.0, 80.0)):
        results.distance.append(DistanceSample(rtt_ms, 1.0, produce, consume))

    loopback, far = distance_summary(results) or []

    assert (loopback["rtt_ms"], loopback["produce_msg_per_s"]) == (None, 110.0)
    assert (far["produce_vs_loopback"], far["consume_vs_loopback"]) == (50 / 110, 0.25)
