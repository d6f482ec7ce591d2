"""Bodies are bytes: whatever goes in comes out unchanged."""

from __future__ import annotations

import pytest

import ami
from helpers import drain

BODIES = [
    b"",
    b"\x00",
    b"a\x00b\x00",
    b"\xff\xfe\xfd invalid utf-8 \xc3\x28",
    bytes(range(256)),
    b"x" * (1024 * 1024),
]


def test_arbitrary_bytes_round_trip_unchanged(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=3) as producer:
        producer.send_many(BODIES)
        producer.send(bytearray(b"from a bytearray"))

    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=3) as consumer:
        received = drain(consumer, len(BODIES) + 1)

    assert sorted(m.body for m in received) == sorted([*BODIES, b"from a bytearray"])
    assert all(type(m.body) is bytes for m in received)


def test_str_bodies_are_utf8(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send("héllo ✓")
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        [message] = drain(consumer, 1)
    assert message.body == "héllo ✓".encode()
    assert message.text == "héllo ✓"


def test_text_of_a_non_utf8_body_raises(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send(b"\xff")
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        [message] = drain(consumer, 1)
    with pytest.raises(UnicodeDecodeError):
        _ = message.text


@pytest.mark.parametrize("body", [1, None, 2.5, ["list"], object()])
def test_bodies_of_other_types_are_refused(nodes: list[str], queue: str, body: object) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        with pytest.raises(ami.InvalidMessageError) as raised:
            producer.send(body)  # type: ignore[arg-type]
        assert isinstance(raised.value, TypeError)
        with pytest.raises(ami.InvalidMessageError):
            producer.send_many([b"ok", body])  # type: ignore[list-item]
        assert producer.flush(timeout=10) == 0


def test_a_body_over_max_message_bytes_is_refused_and_nothing_is_lost(
    nodes: list[str], queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1, max_message_bytes=1024) as producer:
        producer.send(b"ok" * 512)
        with pytest.raises(ami.MessageTooLargeError) as raised:
            producer.send(b"x" * 1025)
        assert (raised.value.size, raised.value.limit) == (1025, 1024)
        assert isinstance(raised.value, ValueError)
        with pytest.raises(ami.MessageTooLargeError):
            producer.send_many([b"fits", b"y" * 2000])
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        received = drain(consumer, 2)
    assert sorted(m.body for m in received) == sorted([b"ok" * 512, b"fits"])


def test_batches_of_large_messages_are_cut_by_bytes(nodes: list[str], queue: str) -> None:
    body = b"z" * (256 * 1024)
    with ami.Producer(queue, nodes=nodes, shards=2, pipe_buffer_bytes=1024 * 1024) as producer:
        producer.send_many([body] * 40)
        assert producer.flush(timeout=30) == 0
        assert producer.stats()["confirmed"] == 40
