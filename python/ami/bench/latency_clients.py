"""The two ends of a latency run, for ami and for the plain redis-py floor.

Each body carries its send time from `time.monotonic_ns`, a system-wide clock, so the
sender can run in a process of its own: the two ends never wait for each other's GIL.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from ami._consumer import Consumer
from ami._producer import Producer
from ami.bench.admin import Admin, group_name, stream_names
from ami.bench.config import SHARDS

# A 16-byte body: the send time, then padding.
_STAMP = struct.Struct("<Q8x")
# How long a reader waits for the next message before giving up on the rest.
_QUIET = 3.0


def stamped_body() -> bytes:
    """A 16-byte body carrying the time it was made."""
    return _STAMP.pack(time.monotonic_ns())


def stamp_of(body: bytes) -> int:
    """The send time `stamped_body` put in `body`."""
    stamp: int = _STAMP.unpack(body)[0]
    return stamp


def send_paced(send: Callable[[bytes], object], rate: int, total: int) -> None:
    """Calls `send` with a fresh stamped body every 1/`rate` seconds, `total` times.

    A sender that falls behind (sleeps overshoot at high rates) catches up at once, as
    a real source with a backlog would.
    """
    started = time.monotonic()
    for i in range(total):
        wait = started + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        send(stamped_body())


def ami_sender(nodes: list[str], queue: str, rate: int, total: int) -> None:
    """Sends with `Producer.send`, one message per call, default options."""
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        send_paced(producer.send, rate, total)


def floor_sender(nodes: list[str], queue: str, rate: int, total: int) -> None:
    """One `XADD` per message and a reply awaited for each, to the first shard's master."""
    with Admin(nodes) as admin:
        stream = stream_names(queue)[0]
        connection = admin.node_connection(stream)
        send_paced(lambda body: connection.xadd(stream, {"m": body}), rate, total)


Record = Callable[[int, int], None]


def ami_receiver(nodes: list[str], queue: str, total: int, record: Record) -> Callable[[], None]:
    """Starts an ami consumer; returns the loop that reads `total` messages into `record`.

    The consumer connects before this returns, so no message is sent before it reads.
    It iterates ``consume(max_messages=1000, timeout=0.5)`` and acks each batch.
    """
    consumer = Consumer(queue, consumer="latency", nodes=nodes, shards=SHARDS)

    def receive() -> None:
        with consumer:
            seen = 0
            last = time.monotonic()
            while seen < total and time.monotonic() - last < _QUIET:
                batch = consumer.consume(max_messages=1000, timeout=0.5)
                now = time.monotonic_ns()
                for message in batch:
                    stamp = stamp_of(message.body)
                    record(stamp, now - stamp)
                consumer.ack_many(batch)
                if batch:
                    seen += len(batch)
                    last = time.monotonic()

    return receive


def floor_receiver(admin: Admin, queue: str, total: int, record: Record) -> Callable[[], None]:
    """Creates the first shard's group; returns a loop blocked in ``XREADGROUP`` on it,
    acking and deleting each read (as ami does) before the next."""
    stream = stream_names(queue)[0]
    group = group_name(queue)
    admin.client.xgroup_create(stream, group, id="$", mkstream=True)
    connection = admin.node_connection(stream)

    def receive() -> None:
        seen = 0
        last = time.monotonic()
        while seen < total and time.monotonic() - last < _QUIET:
            reply = connection.xreadgroup(group, "latency", {stream: ">"}, count=1000, block=500)
            now = time.monotonic_ns()
            ids = []
            for _, entries in reply:
                for entry_id, fields in entries:
                    stamp = stamp_of(fields[b"m"])
                    record(stamp, now - stamp)
                    ids.append(entry_id)
            if ids:
                pipe = connection.pipeline(transaction=False)
                pipe.xack(stream, group, *ids)
                pipe.xdel(stream, *ids)
                pipe.execute()
                seen += len(ids)
                last = time.monotonic()

    return receive
