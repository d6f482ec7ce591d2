"""`AsyncConsumer`: the `Consumer` for asyncio code."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ami import _ami
from ami._async_client import AsyncClient
from ami._consumer import Consumer, Message
from ami._errors import ErrorHandler
from ami.exceptions import OperationTimeout

# Longest wait one worker thread makes before the loop looks again (and sees a cancel).
_WAIT_SLICE = 0.25


class AsyncConsumer(AsyncClient[Consumer]):
    """`Consumer` for asyncio: the same options, verbs that never block the event loop.

    Waits run in a worker thread with the GIL released, one thread hop per batch of
    messages, never one per message. Cancelling a task blocked in `consume` loses
    nothing: a batch that arrives after the cancel is put back for the next call.

    Args:
        name: Queue name.
        consumer: This consumer's name in the group. Every other option is that of
            `Consumer`, with the same meaning and default.
    """

    def __init__(
        self,
        name: str,
        *,
        consumer: str,
        nodes: str | Iterable[str] = "127.0.0.1:7001",
        shards: int = 10,
        prefetch_count: int = 100,
        block: float | None = 1.0,
        pending_buffer_size: int = 1_000_000,
        pipe_buffer_size: int = 50_000,
        pipe_period: float = 0.001,
        ack_timeout: float = 60.0,
        claim_idle: float | None = 60.0,
        max_deliveries: int | None = 10,
        check_shards: bool = True,
        trim_acked: bool = True,
        connect_timeout: float = 5.0,
        response_timeout: float = 30.0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        tls_insecure_skip_verify: bool = False,
        on_error: ErrorHandler | None = None,
    ) -> None:
        # Every keyword is passed on as it is: the sync client validates and documents it.
        options: dict[str, Any] = {
            k: v for k, v in locals().items() if k not in ("self", "name", "__class__")
        }
        self.name = name
        self.consumer = consumer
        self._prefetch_count = prefetch_count
        self._ack_timeout = ack_timeout
        super().__init__("consumer", functools.partial(Consumer, name, **options))

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
            batch = await self.consume(self._prefetch_count, timeout=None)
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
        pending = list(messages)
        total = len(pending)
        pending = pending[core.try_ack_many(pending) :]
        deadline = time.monotonic() + self._ack_timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationTimeout(
                    f"queueing acks ({len(pending)} of {total} not queued: the ack buffer of "
                    "pending_buffer_size stayed full; those messages stay pending) timed out "
                    f"after {self._ack_timeout}s",
                    self._ack_timeout,
                )
            await asyncio.to_thread(core.wait_for_ack_space, min(_WAIT_SLICE, left))
            pending = pending[core.try_ack_many(pending) :]
        return total

    async def touch(self, *messages: Message) -> int:
        """As `Consumer.touch`, awaited."""
        return await asyncio.to_thread(self._started().touch, *messages)

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
