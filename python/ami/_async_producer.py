"""`AsyncProducer`: the `Producer` for asyncio code."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any

from ami._async_client import AsyncClient
from ami._errors import ErrorHandler
from ami._producer import Body, Producer

# How long one wait for buffer space may hold a worker thread before it looks again.
_SPACE_WAIT = 0.1


class AsyncProducer(AsyncClient[Producer]):
    """`Producer` for asyncio: the same options, verbs that never block the event loop.

    Waits (connecting, a full buffer, `flush`, `close`) run in a worker thread with the
    GIL released; `send` on a buffer with room costs no thread hop. Use it as
    ``async with ami.AsyncProducer(...) as producer``, or call `start` first.

    Args:
        name: Queue name. Every other option is that of `Producer`, with the same
            meaning and default.
    """

    def __init__(
        self,
        name: str,
        *,
        nodes: str | Iterable[str] = "127.0.0.1:7001",
        shards: int = 10,
        pending_buffer_size: int = 1_000_000,
        pending_buffer_bytes: int = 512 * 1024 * 1024,
        pipe_buffer_size: int = 50_000,
        pipe_buffer_bytes: int = 16 * 1024 * 1024,
        max_message_bytes: int = 16 * 1024 * 1024,
        pipe_period: float = 0.001,
        max_in_flight: int = 8,
        delivery_timeout: float = 120.0,
        create_group: bool = True,
        check_shards: bool = True,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        balance_masters: bool = False,
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
        exit_timeout: float = 10.0,
    ) -> None:
        # Every keyword is passed on as it is: the sync client validates and documents it.
        options: dict[str, Any] = {
            k: v for k, v in locals().items() if k not in ("self", "name", "__class__")
        }
        self.name = name
        super().__init__("producer", functools.partial(Producer, name, **options))

    async def send(self, body: Body) -> None:
        """Queues one message; waits without blocking the loop while the buffer is full."""
        core = self._started()._core
        while not core.try_send(body):
            await asyncio.to_thread(core.wait_for_space, _SPACE_WAIT)

    async def send_many(self, bodies: Iterable[Body]) -> int:
        """Queues many messages; waits without blocking the loop while the buffer is full.

        Returns:
            How many messages were queued.
        """
        core = self._started()._core
        pending = list(bodies)
        total = len(pending)
        pending = pending[core.try_send_many(pending) :]
        while pending:
            await asyncio.to_thread(core.wait_for_space, _SPACE_WAIT)
            pending = pending[core.try_send_many(pending) :]
        return total

    def __len__(self) -> int:
        return 0 if self._client is None else len(self._client)

    def __repr__(self) -> str:
        return f"<ami.AsyncProducer {self.name!r} {'closed' if self.closed else 'open'}>"
