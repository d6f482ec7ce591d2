"""`AsyncProducer`: the `Producer` for asyncio code."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ami import _ami
from ami._async_client import AsyncClient
from ami._options import ProducerOptions, refuse_unknown
from ami._producer import Body, Headers, Key, Producer
from ami._reports import on_loop
from ami.exceptions import OperationTimeout

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

# How long one wait for buffer space may hold a worker thread before it looks again.
_SPACE_WAIT = 0.1


class AsyncProducer(AsyncClient[Producer]):
    """`Producer` for asyncio: the same options, verbs that never block the event loop.

    Waits (connecting, a full buffer, `flush`, `close`) run in a worker thread with the
    GIL released; `send` on a buffer with room costs no thread hop. Use it as
    ``async with ami.AsyncProducer(...) as producer``, or call `start` first.

    `on_delivery` runs on the event loop that called `start` (a coroutine function is
    awaited), one report at a time, so it may resolve futures or touch loop state.

    Args:
        name: Queue name.
        **options: Any keys of `ProducerOptions`, as for `Producer`.
    """

    def __init__(self, name: str, **options: Unpack[ProducerOptions]) -> None:
        # Values are checked by the sync client when `start` creates it.
        refuse_unknown("AsyncProducer", options, ProducerOptions.__optional_keys__)
        self.name = name
        self._options = options
        super().__init__("producer", self._create)

    def _create(self) -> Producer:
        return Producer(self.name, **self._options)

    async def start(self) -> AsyncProducer:
        """Connects (in a worker thread). Called by ``async with``.

        Raises:
            ConfigError: An option is invalid.
            ConnectError: The cluster could not be reached within `connect_timeout`.
        """
        handler = self._options.get("on_delivery")
        if self._client is None and handler is not None:
            self._options = {
                **self._options,
                "on_delivery": on_loop(asyncio.get_running_loop(), handler),
            }
        return await super().start()

    async def send(
        self, body: Body, *, headers: Headers | None = None, key: Key | None = None
    ) -> None:
        """Queues one message; waits without blocking the loop while the buffer is full.
        `headers` and `key` are as for `Producer.send`.

        Raises:
            OperationTimeout: The buffer stayed full for `send_timeout`.
        """
        core = self._started()._core
        waiting_since = time.monotonic()
        while not core.try_send(body, headers=headers, key=key):
            await _wait_for_space(core, waiting_since)

    async def send_many(
        self,
        bodies: Iterable[Body],
        *,
        headers: Headers | Iterable[Headers | None] | None = None,
        keys: Iterable[Key | None] | None = None,
    ) -> int:
        """Queues many messages; waits without blocking the loop while the buffer is full.
        `headers` and `keys` are as for `Producer.send_many`.

        Returns:
            How many messages were queued.

        Raises:
            OperationTimeout: The buffer stayed full for `send_timeout`; the messages
                before the one that found no room were queued.
        """
        core = self._started()._core
        pending = list(bodies)
        total = len(pending)
        each_headers = None if headers is None or isinstance(headers, Mapping) else list(headers)
        common = headers if isinstance(headers, Mapping) else None
        each_key = None if keys is None else list(keys)

        def send_from(start: int) -> int:
            return core.try_send_many(
                pending[start:],
                headers=common if each_headers is None else each_headers[start:],
                keys=None if each_key is None else each_key[start:],
            )

        done = send_from(0)
        waiting_since = time.monotonic()
        while done < total:
            await _wait_for_space(core, waiting_since)
            if queued := send_from(done):
                done += queued
                waiting_since = time.monotonic()
        return total

    def __len__(self) -> int:
        return 0 if self._client is None else len(self._client)

    def __repr__(self) -> str:
        return f"<ami.AsyncProducer {self.name!r} {'closed' if self.closed else 'open'}>"


async def _wait_for_space(core: _ami.ProducerCore, waiting_since: float) -> None:
    """Waits one slice for buffer space, or raises once it has waited `send_timeout`."""
    wait = _SPACE_WAIT
    if core.send_timeout is not None:
        left = waiting_since + core.send_timeout - time.monotonic()
        if left <= 0:
            raise OperationTimeout(
                f"send (buffer full) timed out after {core.send_timeout}s", core.send_timeout
            )
        wait = min(wait, left)
    await asyncio.to_thread(core.wait_for_space, wait)
