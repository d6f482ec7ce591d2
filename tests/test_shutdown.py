"""Ending a program loses nothing a producer accepted: a script that just ends, one that
calls sys.exit, and one stopped with SIGTERM after `ami.shutdown_on_signals()`."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import total_length

MESSAGES = 300_000

ENDINGS = {
    "script ends": "",
    "sys.exit": "sys.exit(3)",
}


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_producer_never_closed_is_flushed_at_exit(
    nodes: list[str], redis_client: RedisCluster, queue: str, ending: str
) -> None:
    child = run_child(
        f"""
        import sys
        import ami

        producer = ami.Producer(sys.argv[2], nodes=sys.argv[1].split(","), shards=4)
        producer.send_many([b"x"] * {MESSAGES})
        {ENDINGS[ending]}
        """,
        ",".join(nodes),
        queue,
    )
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == (3 if ending == "sys.exit" else 0), stderr
    assert total_length(redis_client, queue, 4) == MESSAGES


def test_what_cannot_be_written_in_exit_timeout_is_reported(nodes: list[str], queue: str) -> None:
    child = run_child(
        f"""
        import sys
        import ami

        def report(error):
            print("on_error:", type(error).__name__, flush=True)

        producer = ami.Producer(
            sys.argv[2], nodes=sys.argv[1].split(","), shards=4, exit_timeout=0,
            pipe_period=5.0, pipe_buffer_size=10 * {MESSAGES}, on_error=report,
        )
        producer.send_many([b"x"] * {MESSAGES})
        """,
        ",".join(nodes),
        queue,
    )
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    assert f"producer {queue!r} was not closed; at exit" in stderr
    assert "on_error: DeliveryError" in stdout


def test_sigterm_after_shutdown_on_signals_closes_gracefully(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    child = run_child(
        f"""
        import sys, time
        import ami

        ami.shutdown_on_signals()
        with ami.Producer(sys.argv[2], nodes=sys.argv[1].split(","), shards=4) as producer:
            producer.send_many([b"x"] * {MESSAGES})
            print("sent", flush=True)
            time.sleep(60)
        """,
        ",".join(nodes),
        queue,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "sent\n"
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, stderr
    assert total_length(redis_client, queue, 4) == MESSAGES


@pytest.mark.parametrize("value", [-1.0, float("nan"), "10", True])
def test_a_bad_exit_timeout_is_refused_before_connecting(value: object) -> None:
    with pytest.raises(ami.ConfigError) as raised:
        ami.Producer("q", nodes=["127.0.0.1:1"], exit_timeout=value)  # type: ignore[arg-type]
    assert raised.value.option == "exit_timeout"
