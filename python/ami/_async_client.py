"""What the asyncio twins share: starting in a worker thread, awaiting `flush`/`close`,
and refusing use before `start`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from ami._consumer import Consumer
from ami._producer import Producer
from ami.exceptions import ClientClosedError

C = TypeVar("C", Producer, Consumer)
S = TypeVar("S", bound="AsyncClient")  # type: ignore[type-arg]


class AsyncClient(Generic[C]):
    """Wraps a sync client created by `start` in a worker thread."""

    def __init__(self, kind: str, start: Callable[[], C]) -> None:
        self._kind = kind
        self._start: Callable[[], C] = start
        self._client: C | None = None

    async def start(self: S) -> S:
        """Connects (in a worker thread). Called by ``async with``.

        Raises:
            ConfigError: An option is invalid.
            ConnectError: The cluster could not be reached within `connect_timeout`.
        """
        if self._client is None:
            self._client = await asyncio.to_thread(self._start)
        return self

    async def flush(self, timeout: float | None = None) -> int:
        """As the sync client's `flush`, awaited."""
        return await asyncio.to_thread(self._started().flush, timeout)

    async def close(self, timeout: float | None = None) -> None:
        """As the sync client's `close`, awaited. Safe to call twice, or before `start`."""
        if self._client is not None:
            await asyncio.to_thread(self._client.close, timeout)

    def stats(self) -> dict[str, int]:
        """As the sync client's `stats`."""
        return self._started().stats()

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._client is not None and self._client.closed

    def _started(self) -> C:
        if self._client is None:
            raise ClientClosedError(
                f"{self._kind} is not started: use `async with` or `await start()`"
            )
        return self._client

    async def __aenter__(self: S) -> S:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
