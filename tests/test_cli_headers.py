"""Headers on the command line: ``ami send --header``, and the headers ``ami tail`` and
``ami dlq list`` show, in text and in JSON, against a real local cluster."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest

import ami
from ami import cli
from helpers import drain

SHARDS = 2


@pytest.fixture(autouse=True)
def _no_ambient_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep $AMI_NODES and a state file in the working directory out of the tests."""
    monkeypatch.delenv("AMI_NODES", raising=False)
    monkeypatch.chdir(tmp_path)


def _queue_args(queue: str, nodes: list[str]) -> list[str]:
    return [queue, "--nodes", ",".join(nodes), "--shards", str(SHARDS)]


def _consume(nodes: list[str], queue: str, expected: int) -> list[ami.Message]:
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=SHARDS) as consumer:
        return drain(consumer, expected, idle=2.0)


# --------------------------------------------------------------------------- send


def test_send_gives_every_message_the_headers(
    nodes: list[str], queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"one\ntwo\nthree\n")))
    args = [*_queue_args(queue, nodes), "-H", "trace=abc", "--header", "tenant=acme"]

    assert cli.main(["send", *args]) == 0

    received = _consume(nodes, queue, 3)
    assert sorted(message.body for message in received) == [b"one", b"three", b"two"]
    assert [message.headers for message in received] == [{"trace": b"abc", "tenant": b"acme"}] * 3


@pytest.mark.parametrize(
    ("option", "headers"),
    [
        ("empty=", {"empty": b""}),
        ("eq=a=b", {"eq": b"a=b"}),
        ("wörld=grüße", {"wörld": "grüße".encode()}),
        # An argument that is not UTF-8 reaches Python with surrogate escapes.
        ("raw=\udcff\udcfe", {"raw": b"\xff\xfe"}),
    ],
)
def test_send_keeps_a_header_value_byte_for_byte(
    nodes: list[str], queue: str, option: str, headers: dict[str, bytes]
) -> None:
    assert cli.main(["send", *_queue_args(queue, nodes), "body", "--header", option]) == 0

    [message] = _consume(nodes, queue, 1)
    assert (message.body, message.headers) == (b"body", headers)


def test_send_without_headers_sends_none(nodes: list[str], queue: str) -> None:
    assert cli.main(["send", *_queue_args(queue, nodes), "plain"]) == 0

    [message] = _consume(nodes, queue, 1)
    assert (message.body, message.headers) == (b"plain", {})


@pytest.mark.parametrize(
    ("option", "complaint"),
    [
        ("novalue", "expected NAME=VALUE, got 'novalue'"),
        ("=value", "expected NAME=VALUE, got '=value'"),
        ("bad\tname=v", "holds a control character"),
        ("n" * 256 + "=v", "is 256 bytes long, more than 255"),
        ("\udcff=v", "is not valid UTF-8"),
    ],
)
def test_a_malformed_header_is_a_one_line_usage_error_before_connecting(
    option: str, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1: a connection attempt would fail with status 1.
    assert cli.main(["send", "q", "body", "--nodes", "127.0.0.1:1", "--header", option]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "--header" in err and complaint in err


def test_a_header_given_twice_is_a_usage_error_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["send", "q", "body", "--nodes", "127.0.0.1:1", "-H", "a=1", "-H", "b=2", "-H", "a=3"]

    assert cli.main(args) == 2

    assert capsys.readouterr().err == "ami: error: --header 'a' is given more than once\n"


# --------------------------------------------------------------------------- tail


def _send(nodes: list[str], queue: str, *messages: tuple[bytes, dict[str, bytes] | None]) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        for body, headers in messages:
            producer.send(body, headers=headers)
            producer.flush()


def test_tail_shows_headers_after_the_body_as_tabs_and_name_value(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _send(
        nodes,
        queue,
        (b"with spaces", {"trace": b"abc", "empty": b""}),
        (b"bare", None),
        (b"raw", {"bin": b"\xff\n"}),
    )

    assert cli.main(["tail", *_queue_args(queue, nodes)]) == 0

    shown = sorted(line.split(" ", 2)[2] for line in capsys.readouterr().out.splitlines())
    assert shown == ["bare", "raw\tbin=b'\\xff\\n'", "with spaces\ttrace=abc\tempty="]


def test_tail_json_shows_headers_as_it_shows_bodies(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _send(nodes, queue, (b"text", {"trace": b"abc"}), (b"\xfe", {"bin": b"\xff", "t": b"x"}))

    assert cli.main(["tail", *_queue_args(queue, nodes), "--json"]) == 0

    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_body = {entry["body"]: entry for entry in entries}
    assert set(by_body) == {"text", base64.b64encode(b"\xfe").decode()}
    text = by_body["text"]
    assert (text["body_base64"], text["headers"], text["headers_base64"]) == (
        False,
        {"trace": "abc"},
        False,
    )
    raw = by_body[base64.b64encode(b"\xfe").decode()]
    assert raw["body_base64"] and raw["headers_base64"]
    decoded = {name: base64.b64decode(value) for name, value in raw["headers"].items()}
    assert decoded == {"bin": b"\xff", "t": b"x"}
    assert {entry["stream"] for entry in entries} <= {f"qu{{{i}}}_{queue}" for i in range(SHARDS)}


# --------------------------------------------------------------------------- dlq list


def _dead_letter(nodes: list[str], queue: str, body: bytes, headers: dict[str, bytes]) -> None:
    _send(nodes, queue, (body, headers))
    with ami.Consumer(
        queue,
        consumer="c",
        nodes=nodes,
        shards=SHARDS,
        claim_idle=0.1,
        max_deliveries=1,
        on_error=lambda error: None,  # the dead letter is reported: expected here
    ) as consumer:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and consumer.stats()["dead_lettered"] < 1:
            consumer.consume(100, timeout=0.2)  # never acked
        assert consumer.stats()["dead_lettered"] == 1


def test_dlq_list_shows_the_headers_a_dead_letter_keeps(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead_letter(nodes, queue, b"poison", {"trace": b"abc", "bin": b"\xff"})
    args = ["dlq", "list", *_queue_args(queue, nodes)]

    assert cli.main([*args, "--json"]) == 0
    [letter] = json.loads(capsys.readouterr().out)
    assert cli.main(args) == 0
    header_row, row = capsys.readouterr().out.splitlines()

    assert (letter["body"], letter["headers_base64"]) == ("poison", True)
    assert {name: base64.b64decode(v) for name, v in letter["headers"].items()} == {
        "trace": b"abc",
        "bin": b"\xff",
    }
    assert header_row.split()[-2:] == ["HEADERS", "BODY"]
    assert row.endswith("trace=abc bin=b'\\xff'  poison")
