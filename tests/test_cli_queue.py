"""``ami stats``, ``ami tail`` and ``ami send`` against a real local cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

import ami
from ami import cli
from ami.cli.output import format_body, format_duration
from ami.cli.state_file import DEFAULT_STATE_FILE
from ami.ops import inspect
from helpers import drain, stream_names, total_length

SHARDS = 3
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


@pytest.fixture(autouse=True)
def _no_ambient_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep $AMI_NODES and a state file in the working directory out of the tests."""
    monkeypatch.delenv("AMI_NODES", raising=False)
    monkeypatch.chdir(tmp_path)


def _cli_env(nodes: list[str] | None) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout first, AMI_NODES from `nodes`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))
    env.pop("AMI_NODES", None)
    if nodes is not None:
        env["AMI_NODES"] = ",".join(nodes)
    return env


def _run(
    *args: str, nodes: list[str] | None = None, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run ``python -m ami ARGS`` in a subprocess; returns (exit status, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "ami", *args],
        input=stdin,
        env=_cli_env(nodes),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def _queue_args(queue: str, nodes: list[str], shards: int = SHARDS) -> list[str]:
    return [queue, "--nodes", ",".join(nodes), "--shards", str(shards)]


def _produce(nodes: list[str], queue: str, bodies: list[bytes], shards: int = SHARDS) -> None:
    with ami.Producer(queue, nodes=nodes, shards=shards) as producer:
        for body in bodies:
            # One batch per body, so that ids follow the order of `bodies`.
            producer.send(body)
            producer.flush()


def _dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _sorted_bodies(redis_client: RedisCluster, queue: str, shards: int) -> list[bytes]:
    entries = [e for s in stream_names(queue, shards) for e in redis_client.xrange(s)]
    return sorted(fields[b"m"] for _, fields in entries)


# --------------------------------------------------------------------------- stats


def test_stats_prints_a_table(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _produce(nodes, queue, [b"a", b"b", b"c", b"d"])
    with ami.Consumer(queue, consumer="alice", nodes=nodes, shards=SHARDS) as consumer:
        drain(consumer, 4, ack=False)

    assert cli.main(["stats", *_queue_args(queue, nodes)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"queue {queue}  group qu_{queue}_group  shards {SHARDS}  layout go"
    assert lines[2].split() == [
        "SHARD",
        "MASTER",
        "LENGTH",
        "PENDING",
        "LAG",
        "CONSUMERS",
        "OLDEST_PENDING",
        "DEAD",
        "DELIVERED",
    ]
    shard_rows = [line.split() for line in lines[3 : 3 + SHARDS]]
    assert [row[0] for row in shard_rows] == stream_names(queue, SHARDS)
    assert {row[1] for row in shard_rows} <= set(nodes)
    total = lines[3 + SHARDS].split()
    assert total[:6] == ["total", "4", "4", "0", "1", total[5]]
    assert total[5].endswith("s")
    masters = lines[5 + SHARDS : lines.index("", 5 + SHARDS)]
    assert masters[0].split() == ["MASTER", "SHARDS", "HELD"]
    held = {row.split()[0]: row.split()[2:] for row in masters[1:]}
    assert sorted(int(i) for shards in held.values() for i in shards) == list(range(SHARDS))
    assert {
        master: [str(i) for i, row in enumerate(shard_rows) if row[1] == master] for master in held
    } == held
    assert lines[-2].split() == ["CONSUMER", "PENDING", "IDLE"]
    assert lines[-1].split()[:2] == ["alice", "4"]


def test_stats_json(nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]) -> None:
    _produce(nodes, queue, [b"x"] * 5)

    assert cli.main(["stats", *_queue_args(queue, nodes), "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert (data["name"], data["length"], data["pending"], data["lag"]) == (queue, 5, 0, 5)
    assert [shard["stream"] for shard in data["shards"]] == stream_names(queue, SHARDS)


def test_stats_of_an_empty_queue(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ami.Producer(queue, nodes=nodes, shards=SHARDS).close()

    assert cli.main(["stats", *_queue_args(queue, nodes)]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[3 + SHARDS].split() == ["total", "0", "0", "0", "0", "-", "0"]
    assert out.rstrip().endswith("no consumers")


def test_stats_subprocess_reads_nodes_from_the_environment(nodes: list[str], queue: str) -> None:
    ami.Producer(queue, nodes=nodes, shards=2).close()

    status, out, err = _run("stats", queue, "--json", "--shards", "2", nodes=nodes)

    assert (status, err) == (0, "")
    assert json.loads(out)["length"] == 0


def test_nodes_from_the_environment_in_process(
    nodes: list[str],
    queue: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AMI_NODES", ",".join(nodes))
    ami.Producer(queue, nodes=nodes, shards=SHARDS).close()

    assert cli.main(["stats", queue, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == queue


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("command", [["stats"], ["tail"], ["send", "body"]])
def test_bad_name_is_a_usage_error(
    nodes: list[str], command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    name_first = [command[0], "bad name", *command[1:]]

    assert cli.main([*name_first, "--nodes", ",".join(nodes)]) == 2

    err = capsys.readouterr().err
    assert err.startswith("ami: error: invalid name: \"bad name\" contains ' '")
    assert err.count("\n") == 1


def test_bad_name_subprocess(nodes: list[str]) -> None:
    status, out, err = _run("stats", "a{b}", nodes=nodes)

    assert (status, out) == (2, "")
    assert err.startswith("python -m ami: error: invalid name") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--shards", "0"], "argument --shards: must be between 1 and 127"),
        (["--nodes", "no-port"], "invalid nodes"),
        (["--count", "-1"], "--count"),
    ],
)
def test_bad_options_are_usage_errors(
    option: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tail", "q", "--nodes", "127.0.0.1:1", *option]) == 2
    assert expected in capsys.readouterr().err


def test_unreachable_nodes_fail_with_one_line(queue: str) -> None:
    address = _dead_address()

    status, out, err = _run("stats", queue, "--nodes", address)

    assert (status, out) == (1, "")
    assert err.startswith("python -m ami: error: ConnectError: ") and address in err
    assert err.count("\n") == 1


def test_unreachable_nodes_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tail", "q", "--nodes", _dead_address()]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_no_nodes_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stats", "q"]) == 2
    err = capsys.readouterr().err
    assert "--nodes" in err and "AMI_NODES" in err and err.count("\n") == 1


def test_broken_state_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / DEFAULT_STATE_FILE).write_text("{not json")

    assert cli.main(["stats", "q"]) == 2
    assert DEFAULT_STATE_FILE in capsys.readouterr().err


# --------------------------------------------------------------------------- tail


def test_tail_prints_bodies(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _produce(nodes, queue, [b"alpha", b"beta", "wörld".encode(), b"\xff\x00"])

    assert cli.main(["tail", *_queue_args(queue, nodes)]) == 0

    rows = [line.split(" ", 2) for line in capsys.readouterr().out.splitlines()]
    assert {stream for stream, _, _ in rows} <= set(stream_names(queue, SHARDS))
    assert sorted(body for _, _, body in rows) == sorted(
        ["alpha", "beta", "wörld", "b'\\xff\\x00'"]
    )


def test_tail_count_keeps_the_newest_in_order(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _produce(nodes, queue, [b"one", b"two", b"three", b"four"], shards=1)

    assert cli.main(["tail", *_queue_args(queue, nodes, shards=1), "--count", "2"]) == 0

    bodies = [line.split(" ", 2)[2] for line in capsys.readouterr().out.splitlines()]
    assert bodies == ["three", "four"]


def test_tail_does_not_consume(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _produce(nodes, queue, [b"keep", b"me"])

    assert cli.main(["tail", *_queue_args(queue, nodes)]) == 0

    stats = inspect(queue, nodes=nodes, shards=SHARDS)
    assert (stats.length, stats.pending, stats.lag) == (2, 0, 2)


def test_tail_follow_prints_new_messages_until_ctrl_c(nodes: list[str], queue: str) -> None:
    _produce(nodes, queue, [b"before"], shards=1)
    command = [sys.executable, "-m", "ami", "tail", queue, "--shards", "1", "-n", "1", "-f"]
    with subprocess.Popen(
        command, env=_cli_env(nodes), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        try:
            assert process.stdout.readline().split(" ", 2)[2] == "before\n"
            _produce(nodes, queue, [b"after"], shards=1)
            assert process.stdout.readline().split(" ", 2)[2] == "after\n"
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()

    assert (process.returncode, out, err) == (0, "", "")


# --------------------------------------------------------------------------- send


def test_send_from_stdin(nodes: list[str], queue: str, redis_client: RedisCluster) -> None:
    status, out, err = _run("send", queue, "--shards", "3", nodes=nodes, stdin="one\ntwo\n\nfour\n")

    assert (status, err) == (0, "")
    assert out == f"sent 4 messages to {queue}\n"
    assert _sorted_bodies(redis_client, queue, SHARDS) == [b"", b"four", b"one", b"two"]


def test_send_one_body(
    nodes: list[str], queue: str, redis_client: RedisCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["send", queue, "hello wörld", *_queue_args(queue, nodes)[1:]]) == 0

    assert capsys.readouterr().out == f"sent 1 message to {queue}\n"
    assert _sorted_bodies(redis_client, queue, SHARDS) == ["hello wörld".encode()]
    assert total_length(redis_client, queue, SHARDS) == 1


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.5, "0.50s"),
        (42, "42.0s"),
        (303, "5m03s"),
        (7500, "2h05m"),
        (3 * 86400 + 4 * 3600 + 59, "3d04h"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"plain text", "plain text"),
        ("wörld".encode(), "wörld"),
        (b"\xff\x00", "b'\\xff\\x00'"),
        (b"two\nlines", "b'two\\nlines'"),
        (b"", "b''"),
        (None, "(no field m)"),
    ],
)
def test_format_body(body: bytes | None, text: str) -> None:
    assert format_body(body) == text
