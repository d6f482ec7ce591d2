"""`AsyncConsumer`: the `Consumer` for asyncio code."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from ami import _ami
from ami._async_client import AsyncClient
from ami._consumer import Consumer, Message
from ami._options import ConsumerOptions, refuse_unknown
from ami.exceptions import OperationTimeout

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

# Longest wait one worker thread makes before the loop looks again (and sees a cancel).
_WAIT_SLICE = 0.25


class AsyncConsumer(AsyncClient[Consumer]):
    """`Consumer` for asyncio: the same options, verbs that never block the event loop.

    Waits run in a worker thread with the GIL released, one thread hop per batch of
    messages, never one per message. Cancelling a task blocked in `consume` loses
    nothing: a batch that arrives after the cancel is put back for the next call.

    Args:
        name: Queue name.
        consumer: This consumer's name in the group.
        **options: Any keys of `ConsumerOptions`, as for `Consumer`.
    """

    def __init__(self, name: str, *, consumer: str, **options: Unpack[ConsumerOptions]) -> None:
        # Values are checked by the sync client when `start` creates it.
        refuse_unknown("AsyncConsumer", options, ConsumerOptions.__optional_keys__)
        self.name = name
        self.consumer = consumer
        super().__init__("consumer", lambda: Consumer(name, consumer=consumer, **options))

    async def consume(self, max_messages: int = 1000, timeout: float | None = 1.0) -> list[Message]:
        """As `Consumer.consume`, awaited.

        Returns:
            Up to `max_messages` messages; an empty list when none came within `timeout`
            or the consumer was stopped and everything read was handed out.
        """
        consumer = self._started()
        consumer._check_open()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = _WAIT_SLICE if deadline is None else max(0.0, deadline - loop.time())
            batch = await self._fetch(max_messages, min(left, _WAIT_SLICE))
            if batch or consumer.stopped or (deadline is not None and loop.time() >= deadline):
                return batch

    async def _fetch(self, max_messages: int, timeout: float) -> list[Message]:
        core = self._started()._core
        fetch = asyncio.ensure_future(asyncio.to_thread(core.consume, max_messages, timeout))
        try:
            return await asyncio.shield(fetch)
        except asyncio.CancelledError:
            fetch.add_done_callback(lambda done: _requeue(core, done))
            raise

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            batch = await self.consume(self._started()._prefetch_count, timeout=None)
            if not batch:
                return
            for message in batch:
                yield message

    async def ack(self, message: Message) -> None:
        """Queues the ack of one message; waits without blocking while the buffer is full."""
        await self.ack_many([message])

    async def ack_many(self, messages: Iterable[Message]) -> int:
        """Queues the acks of many messages; returns how many."""
        core = self._started()._core
        ack_timeout = core.ack_timeout
        pending = list(messages)
        total = len(pending)
        pending = pending[core.try_ack_many(pending) :]
        deadline = time.monotonic() + ack_timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationTimeout(
                    f"queueing acks ({len(pending)} of {total} not queued: the ack buffer of "
                    "pending_buffer_size stayed full; those messages stay pending) timed out "
                    f"after {ack_timeout}s",
                    ack_timeout,
                )
            await asyncio.to_thread(core.wait_for_ack_space, min(_WAIT_SLICE, left))
            pending = pending[core.try_ack_many(pending) :]
        return total

    async def touch(self, *messages: Message) -> int:
        """As `Consumer.touch`, awaited."""
        return await asyncio.to_thread(self._started().touch, *messages)

    async def nack(self, message: Message, *, delay: float = 0.0) -> bool:
        """As `Consumer.nack`, awaited."""
        return await self.nack_many([message], delay=delay) == 1

    async def nack_many(self, messages: Iterable[Message], *, delay: float = 0.0) -> int:
        """As `Consumer.nack_many`, awaited."""
        consumer = self._started()
        return await asyncio.to_thread(consumer.nack_many, list(messages), delay=delay)

    def stop(self) -> None:
        """Stops reading; iteration ends once what was read has been yielded."""
        self._started().stop()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ami.AsyncConsumer {self.name!r} consumer={self.consumer!r} {state}>"


def _requeue(core: _ami.ConsumerCore, done: asyncio.Future[list[Message]]) -> None:
    """Gives back a batch whose caller was cancelled before it arrived."""
    if not done.cancelled() and done.exception() is None and done.result():
        core.requeue(done.result())
