"""Bad input fails fast with an exception from ami's own hierarchy."""

from __future__ import annotations

import time
from typing import Any

import pytest

import ami

UNREACHABLE = ["127.0.0.1:1"]


@pytest.mark.parametrize("name", ["", "has space", "glob*", "brace{0}", "tab\t", "é", "x" * 201])
def test_bad_queue_names_are_config_errors(name: str) -> None:
    with pytest.raises(ami.ConfigError) as raised:
        ami.Producer(name, nodes=UNREACHABLE)
    assert isinstance(raised.value, ValueError)
    assert raised.value.option == "name"
    with pytest.raises(ami.ConfigError):
        ami.Consumer(name, consumer="c", nodes=UNREACHABLE)
    with pytest.raises(ami.ConfigError):
        ami.Consumer("ok", consumer=name, nodes=UNREACHABLE)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("shards", 0),
        ("shards", -1),
        ("shards", 128),
        ("pipe_buffer_size", 0),
        ("pending_buffer_size", 0),
        ("pipe_period", 0.0),
        ("pipe_period", -1.0),
        ("pipe_period", float("nan")),
        ("delivery_timeout", 0.0),
        ("connect_timeout", float("inf")),
        ("nodes", []),
        ("nodes", "not-a-node"),
        ("nodes", ["127.0.0.1:99999"]),
    ],
)
def test_bad_producer_options_are_config_errors(option: str, value: Any) -> None:
    options = {"nodes": UNREACHABLE, option: value}
    with pytest.raises(ami.ConfigError) as raised:
        ami.Producer("q", **options)
    assert isinstance(raised.value, ami.AmiError)
    assert raised.value.option == option


@pytest.mark.parametrize(
    ("option", "value"),
    [("prefetch_count", 0), ("shards", 200), ("block", -1.0), ("ack_timeout", 0.0)],
)
def test_bad_consumer_options_are_config_errors(option: str, value: Any) -> None:
    options = {"nodes": UNREACHABLE, option: value}
    with pytest.raises(ami.ConfigError) as raised:
        ami.Consumer("q", consumer="c", **options)
    assert raised.value.option == option


def test_unreachable_nodes_raise_connect_error_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(ami.ConnectError) as raised:
        ami.Producer("q", nodes=UNREACHABLE, connect_timeout=1.0)
    assert time.monotonic() - started < 5.0
    assert isinstance(raised.value, ConnectionError)
    assert "127.0.0.1:1" in str(raised.value)
    with pytest.raises(ami.ConnectError):
        ami.Consumer("q", consumer="c", nodes=UNREACHABLE, connect_timeout=1.0)


def test_consume_with_zero_max_messages_is_refused(nodes: list[str], queue: str) -> None:
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        with pytest.raises(ami.ConfigError):
            consumer.consume(max_messages=0)
        with pytest.raises(ami.ConfigError):
            consumer.consume(timeout=-1)
