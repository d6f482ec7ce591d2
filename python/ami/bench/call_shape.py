"""Whether the producer's rate depends on how the application hands it messages.

The same messages go through one `send_many` of the whole list, `send_many` of small
chunks, and a `send()` per message, each into a fresh queue with default options.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ami._producer import Producer
from ami.bench.config import SHARDS

CHUNK = 100
BODY = b"0123456789abcdef"


def _one_list(producer: Producer, bodies: list[bytes]) -> None:
    producer.send_many(bodies)


def _chunks(producer: Producer, bodies: list[bytes]) -> None:
    for start in range(0, len(bodies), CHUNK):
        producer.send_many(bodies[start : start + CHUNK])


def _one_by_one(producer: Producer, bodies: list[bytes]) -> None:
    send = producer.send
    for body in bodies:
        send(body)


SHAPES: tuple[tuple[str, Callable[[Producer, list[bytes]], None]], ...] = (
    ("send_many(one list)", _one_list),
    (f"send_many(chunks of {CHUNK})", _chunks),
    ("send() per message", _one_by_one),
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
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        started = time.perf_counter()
        send(producer, bodies)
        left = producer.flush(timeout=120.0)
        seconds = time.perf_counter() - started
    if left:
        raise RuntimeError(f"{left} of {messages} messages were not written")
    return seconds
