"""`Producer`: buffered, batched, pipelined writes to the shard streams of a queue."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from ami import _ami, _shutdown
from ami._errors import ErrorPump
from ami._options import EXIT_TIMEOUT, ProducerOptions, refuse_unknown
from ami._reports import ReportPump
from ami._seeds import seed_list
from ami.exceptions import (
    AmiError,
    ClientClosedError,
    ConfigError,
    DeliveryError,
    OperationTimeout,
)

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

Body = bytes | bytearray | str
Key = bytes | bytearray | str
HeaderValue = bytes | bytearray | str
Headers = Mapping[str, HeaderValue]


class Producer:
    """Writes messages to queue `name`, wire-compatible with the Go ami.

    `send` copies the body into a bounded buffer in the Rust core and returns at once;
    a background task groups messages into batches of `pipe_buffer_size` (or whatever
    gathered within `pipe_period`) and writes each batch as one pipeline of XADDs to one
    shard stream ``qu{i}_NAME``, rotating over the shards.

    Delivery is at least once: a batch whose reply is lost (timeout, failover) is sent
    again, which may duplicate some of its messages. A message is lost only if it
    cannot be written within `delivery_timeout`, and then `flush`/`close` raise
    `DeliveryError` and `on_error` is told. With `on_delivery`, every batch written or
    failed is also reported, with its entry ids.

    Messages sent with a `key` go to the shard of that key (`ami.shard_for_key`), so one
    consumer sees a key's messages in the order they were sent.

    Args:
        name: Queue name (ASCII letters, digits and ``_-.:@``).
        **options: Any keys of `ProducerOptions` (where the cluster is, batching, timeouts,
            durability, TLS, `on_error`, `on_delivery`, `exit_timeout`), each documented
            there with its default and trade-off.

    Raises:
        ConfigError: An option is invalid.
        ConnectError: The cluster could not be reached within `connect_timeout`.
    """

    def __init__(self, name: str, **options: Unpack[ProducerOptions]) -> None:
        refuse_unknown("Producer", options, ProducerOptions.__optional_keys__)
        self.name = name
        on_error = options.pop("on_error", None)
        on_delivery = options.pop("on_delivery", None)
        if on_delivery is not None and not callable(on_delivery):
            raise ConfigError(
                f"invalid on_delivery: {on_delivery!r} is not callable", "on_delivery"
            )
        exit_timeout = options.pop("exit_timeout", EXIT_TIMEOUT)
        if isinstance(exit_timeout, bool) or not isinstance(exit_timeout, (int, float)):
            raise ConfigError(f"invalid exit_timeout: {exit_timeout!r}", "exit_timeout")
        if not exit_timeout >= 0:
            raise ConfigError("invalid exit_timeout: must be at least 0", "exit_timeout")
        self._exit_timeout = float(exit_timeout)
        if "nodes" in options:
            options["nodes"] = seed_list(options["nodes"])
        self._core = _ami.ProducerCore(name, delivery_reports=on_delivery is not None, **options)
        # `send` is called once per message: the core's method is bound directly, which
        # spares a Python frame per call; the method below documents it.
        self.send = self._core.send  # type: ignore[method-assign]
        self._errors = ErrorPump(self._core, on_error)
        self._reports = ReportPump(self._core, on_delivery) if on_delivery else None
        _shutdown.track(self)

    def send(self, body: Body, *, headers: Headers | None = None, key: Key | None = None) -> None:
        """Queues one message and returns at once (blocks only while the buffer is full).

        Args:
            body: The message; `str` is encoded as UTF-8.
            headers: Names (`str`: not empty, at most 255 bytes of UTF-8, no control
                characters) and values (bytes, bytearray or str as UTF-8), written as
                entry fields ``h:NAME`` after the body; consumers read them as
                `Message.headers`. Their names and values count toward
                `max_message_bytes`.
            key: Messages with the same key go to the same shard, so one consumer
                gets them in the order they were sent (`str` is hashed as UTF-8).

        Raises:
            InvalidMessageError: `body` or `key` is not bytes, bytearray or str.
            InvalidHeaderError: `headers` is not a mapping, or a name or value is not
                allowed (a `ValueError` too).
            MessageTooLargeError: `body` and headers are over `max_message_bytes`.
            ClientClosedError: The producer is closed.
            OperationTimeout: The buffer stayed full for `send_timeout`.
        """
        self._core.send(body, headers=headers, key=key)

    def send_many(
        self,
        bodies: Iterable[Body],
        *,
        headers: Headers | Iterable[Headers | None] | None = None,
        keys: Iterable[Key | None] | None = None,
    ) -> int:
        """Queues many messages in one call: much faster than `send` in a loop.

        Args:
            bodies: The messages.
            headers: One mapping for every message, or one mapping (or None) per body,
                in step with `bodies`.
            keys: One key (or None) per body, in step with `bodies`.

        Returns:
            How many messages were queued.

        Raises:
            InvalidMessageError: A body or key is not bytes, bytearray or str; the
                messages before it were queued.
            InvalidHeaderError: Headers that `send` would refuse; the messages before
                them were queued.
            ConfigError: `headers` or `keys` has another length than `bodies` (checked
                before anything is queued when all three have a length).
            ClientClosedError: The producer is closed.
        """
        return self._core.send_many(bodies, headers=headers, keys=keys)

    def flush(self, timeout: float | None = None) -> int:
        """Writes what is buffered now and waits until it is confirmed.

        With `on_delivery`, a message counts as written once its report was handled:
        `flush` returns 0 only after every report was. Called from `on_delivery`
        itself, it does not wait.

        Args:
            timeout: Seconds to wait; None waits until everything is written or failed.

        Returns:
            How many accepted messages are still not written (0 when all are).

        Raises:
            DeliveryError: Messages failed since the last `flush`; `failed` says how many.
        """
        if self._reports is not None and self._reports.in_handler():
            timeout = 0.0
        return self._core.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stops accepting messages and waits until everything accepted is written.

        Safe to call twice. Called from `on_delivery`, it stops accepting messages and
        returns without waiting.

        Args:
            timeout: Seconds to wait; None waits (at most about `delivery_timeout`).

        Raises:
            DeliveryError: Some accepted messages could not be written.
            OperationTimeout: `timeout` passed with messages still unwritten; they keep
                being written in the background.
        """
        _shutdown.forget(self)
        self._core.close()
        if self._reports is not None and self._reports.in_handler():
            return
        left = self._core.flush(timeout)
        if left:
            raise OperationTimeout(f"close: {left} message(s) still unwritten", timeout or 0.0)
        self._errors.join(timeout=1.0)
        if self._reports is not None:
            self._reports.join(timeout=1.0)

    def _close_at_exit(self, timeout: float) -> None:
        """`close` for the interpreter's exit: what is left is reported, not raised."""
        try:
            self.close(timeout=timeout)
        except AmiError as error:
            left = len(self)
            print(
                f"ami: producer {self.name!r} was not closed; at exit {left:,} message(s) "
                f"were still unwritten: {type(error).__name__}: {error}",
                file=sys.stderr,
                flush=True,
            )
            lost = (
                error
                if isinstance(error, DeliveryError)
                else DeliveryError(
                    f"{left} message(s) not written before the interpreter exited", left
                )
            )
            self._errors.handle(lost)

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._core.closed

    def stats(self) -> dict[str, int]:
        """Counters: accepted, confirmed, failed, retried, in-flight batches, buffered."""
        return self._core.stats()

    def __len__(self) -> int:
        """Messages accepted but not yet written or failed."""
        return len(self._core)

    def __enter__(self) -> Producer:
        if self.closed:
            raise ClientClosedError("producer is closed")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Without close() the buffer is still drained in the background.
        core = getattr(self, "_core", None)
        if core is not None:
            core.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} unwritten"
        return f"<ami.Producer {self.name!r} {state}>"
