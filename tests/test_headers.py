"""Message headers: fields ``h:NAME`` after ``m``, read back as `Message.headers`, checked
like bodies, and kept through dead letters, replays, tails and Go-style readers."""

from __future__ import annotations

import asyncio
import time
from types import MappingProxyType

import pytest
from redis.cluster import RedisCluster

import ami
from ami.ops import DeadLetters
from ami.ops.tail import tail
from helpers import drain, stream_names

SHARDS = 2
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _consume_all(nodes: list[str], queue: str, expected: int) -> list[ami.Message]:
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=SHARDS) as consumer:
        return drain(consumer, expected, idle=3.0)


def test_headers_round_trip_and_messages_without_have_none(nodes: list[str], queue: str) -> None:
    binary = bytes(range(256))
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send(b"plain")
        producer.send(b"traced", headers={"traceparent": TRACEPARENT, "bin": binary})
        producer.send(b"proxy", headers=MappingProxyType({"é-ü": bytearray(b"v")}))
        producer.send(b"empty", headers={})
        producer.send(b"none", headers=None, key=None)
        producer.send_many([b"m1", b"m2"], headers={"kind": "many"})
        producer.send_many([b"e1", b"e2", b"e3"], headers=[{"n": "1"}, None, {"n": "3", "x": ""}])

    by_body = {m.body: m for m in _consume_all(nodes, queue, 10)}
    assert len(by_body) == 10
    assert by_body[b"plain"].headers == {}
    assert by_body[b"traced"].headers == {"traceparent": TRACEPARENT.encode(), "bin": binary}
    assert by_body[b"proxy"].headers == {"é-ü": b"v"}
    assert by_body[b"empty"].headers == {}
    assert by_body[b"none"].headers == {}
    assert by_body[b"m1"].headers == by_body[b"m2"].headers == {"kind": b"many"}
    assert [by_body[b].headers for b in (b"e1", b"e2", b"e3")] == [
        {"n": b"1"},
        {},
        {"n": b"3", "x": b""},
    ]
    # A new dict each time: changing one changes nothing else.
    message = by_body[b"traced"]
    message.headers["traceparent"] = b"changed"
    assert message.headers["traceparent"] == TRACEPARENT.encode()


def test_headers_are_fields_after_m_with_a_prefix(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send(b"body", headers={"m": "not the body", "traceparent": TRACEPARENT})
        producer.send(b"bare")
    [stream] = stream_names(queue, 1)
    entries = [fields for _, fields in redis_client.xrange(stream)]
    # redis-py keeps the fields in the entry's order.
    assert [list(fields) for fields in entries] == [[b"m", b"h:m", b"h:traceparent"], [b"m"]]
    assert entries[0][b"m"] == b"body"
    assert entries[0][b"h:m"] == b"not the body"


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"": b"x"}, "must not be empty"),
        ({"a\nb": b"x"}, "control character"),
        ({"tab\t": b"x"}, "control character"),
        ({"n" * 256: b"x"}, "more than 255"),
        ({"é" * 128: b"x"}, "more than 255"),
        ({1: b"x"}, "must be str, not int"),
        ({b"bytes-name": b"x"}, "must be str, not bytes"),
        ({"a": 1}, "must be bytes, bytearray or str, not int"),
        ({"a": None}, "not NoneType"),
        ({"a": ["x"]}, "not list"),
        ({"\ud800": b"x"}, "not valid UTF-8"),
        ([("a", b"b")], "must be a mapping"),
        ("a=b", "must be a mapping"),
        (42, "must be a mapping"),
    ],
)
def test_invalid_headers_are_refused_before_anything_is_buffered(
    nodes: list[str], queue: str, headers: object, says: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        with pytest.raises(ami.InvalidHeaderError, match=says) as raised:
            producer.send(b"x", headers=headers)  # type: ignore[arg-type]
        assert isinstance(raised.value, ValueError)
        assert isinstance(raised.value, ami.InvalidMessageError)
        with pytest.raises(ami.InvalidHeaderError, match=says):
            producer.send_many([b"x"], headers=[headers])  # type: ignore[list-item]
        assert len(producer) == 0
        assert producer.stats()["accepted"] == 0
        # The longest allowed name goes through.
        producer.send(b"x", headers={"n" * 255: b""})
        assert producer.flush(5.0) == 0


def test_headers_count_toward_max_message_bytes(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1, max_message_bytes=100) as producer:
        producer.send(b"b" * 90, headers={"name": b"v" * 6})  # exactly 100
        with pytest.raises(ami.MessageTooLargeError) as raised:
            producer.send(b"b" * 90, headers={"name": b"v" * 7})
        assert (raised.value.size, raised.value.limit) == (101, 100)
        with pytest.raises(ami.MessageTooLargeError):
            producer.send(b"", headers={f"h{i}": b"x" * 10 for i in range(10)})
        assert producer.stats()["accepted"] == 1


def test_a_huge_header_value_is_written_and_read(nodes: list[str], queue: str) -> None:
    big = b"v" * (4 * 1024 * 1024)
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send(b"small", headers={"big": big, **{f"h{i}": str(i) for i in range(500)}})
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        [message] = drain(consumer, 1)
    assert message.headers["big"] == big
    assert len(message.headers) == 501
    assert message.body == b"small"


def test_send_many_headers_and_keys_must_match_the_bodies(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        with pytest.raises(ami.ConfigError, match="2 items for 3 bodies"):
            producer.send_many([b"a", b"b", b"c"], headers=[{}, {}])
        with pytest.raises(ami.ConfigError, match="fewer items"):
            producer.send_many(iter([b"a", b"b"]), headers=iter([{}]))
        assert producer.stats()["accepted"] == 1  # a generator is checked as it goes
        with pytest.raises(ami.ConfigError, match="more items"):
            producer.send_many(iter([b"a"]), keys=iter(["k", "k"]))


def test_headers_survive_dead_lettering_and_replay(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send(b"poison", headers={"traceparent": TRACEPARENT, "bin": b"\x00\xff"})
        producer.send(b"plain-poison")
    options = {"nodes": nodes, "shards": SHARDS, "claim_idle": 0.2, "max_deliveries": 1}
    with ami.Consumer(queue, consumer="c", **options) as consumer:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and consumer.stats()["dead_lettered"] < 2:
            consumer.consume(100, timeout=0.2)  # never acked
    with DeadLetters(queue, nodes=nodes, shards=SHARDS) as dlq:
        letters = {letter.body: letter for letter in dlq.list()}
        headed = letters[b"poison"]
        assert headed.headers == {"traceparent": TRACEPARENT.encode(), "bin": b"\x00\xff"}
        assert letters[b"plain-poison"].headers == {}
        as_json = headed.to_dict()
        assert as_json["headers_base64"] is True
        assert dlq.replay() == 2
    with ami.Consumer(queue, consumer="r", nodes=nodes, shards=SHARDS) as consumer:
        replayed = {m.body: m.headers for m in drain(consumer, 2, idle=3.0)}
    assert replayed == {
        b"poison": {"traceparent": TRACEPARENT.encode(), "bin": b"\x00\xff"},
        b"plain-poison": {},
    }
    # The replayed entry has m first, as producers write it.
    for stream in stream_names(queue, SHARDS):
        for _, fields in redis_client.xrange(stream):
            assert next(iter(fields)) == b"m"


def test_tail_shows_headers(nodes: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send(b"a", headers={"k": "v"})
        producer.send(b"b")
    entries = list(tail(queue, nodes=nodes, shards=SHARDS, count=2))
    assert sorted((e.body, e.headers) for e in entries) == [(b"a", {"k": b"v"}), (b"b", {})]


def test_async_producer_sends_headers_and_keys(nodes: list[str], queue: str) -> None:
    async def main() -> None:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=SHARDS) as producer:
            await producer.send(b"one", headers={"a": "1"}, key="k")
            await producer.send_many([b"two", b"three"], headers={"b": b"2"}, keys=["k", "k"])
            with pytest.raises(ami.InvalidHeaderError):
                await producer.send(b"bad", headers={"": b""})

    asyncio.run(main())
    messages = _consume_all(nodes, queue, 3)
    assert [(m.body, m.headers) for m in messages] == [
        (b"one", {"a": b"1"}),
        (b"two", {"b": b"2"}),
        (b"three", {"b": b"2"}),
    ]
    assert {m.stream for m in messages} == {stream_names(queue, SHARDS)[ami.shard_for_key("k", 2)]}
