"""Whether the producer's rate depends on how the application hands it messages.

The same messages go through one `send_many` of the whole list, `send_many` of small
chunks, and a `send()` per message, each into a fresh queue with default options; then
what delivery reports (`on_delivery`, one call per batch) and keys (a `send(key=...)`
per message over 1,000 keys) cost beside them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ami._producer import Producer
from ami.bench.config import SHARDS

CHUNK = 100
BODY = b"0123456789abcdef"
KEYS = [b"key-%d" % i for i in range(1000)]
REPORTED = "send_many(one list), on_delivery"


def _one_list(producer: Producer, bodies: list[bytes]) -> None:
    producer.send_many(bodies)


def _chunks(producer: Producer, bodies: list[bytes]) -> None:
    for start in range(0, len(bodies), CHUNK):
        producer.send_many(bodies[start : start + CHUNK])


def _one_by_one(producer: Producer, bodies: list[bytes]) -> None:
    send = producer.send
    for body in bodies:
        send(body)


def _keyed(producer: Producer, bodies: list[bytes]) -> None:
    send = producer.send
    keys = KEYS * (len(bodies) // len(KEYS) + 1)
    for body, key in zip(bodies, keys):  # noqa: B905 (keys is longer)
        send(body, key=key)


SHAPES: tuple[tuple[str, Callable[[Producer, list[bytes]], None]], ...] = (
    ("send_many(one list)", _one_list),
    (f"send_many(chunks of {CHUNK})", _chunks),
    ("send() per message", _one_by_one),
    (REPORTED, _one_list),
    ("send() per message, keyed", _keyed),
)


def measure_shape(nodes: list[str], queue: str, shape: str, messages: int) -> float:
    """Produces `messages` 16-byte bodies in the given call shape.

    Args:
        nodes: Seed nodes.
        queue: Fresh queue name.
        shape: One of the names in `SHAPES`.
        messages: How many.

    Returns:
        Seconds from the first call until every message is confirmed.
    """
    send = dict(SHAPES)[shape]
    bodies = [BODY] * messages
    reported = [0]
    options: dict[str, Any] = {}
    if shape == REPORTED:
        options["on_delivery"] = lambda report: reported.__setitem__(0, reported[0] + len(report))
    with Producer(queue, nodes=nodes, shards=SHARDS, **options) as producer:
        started = time.perf_counter()
        send(producer, bodies)
        left = producer.flush(timeout=120.0)
        seconds = time.perf_counter() - started
    if left:
        raise RuntimeError(f"{left} of {messages} messages were not written")
    if shape == REPORTED and reported[0] != messages:
        raise RuntimeError(f"{reported[0]} of {messages} messages were reported")
    return seconds
