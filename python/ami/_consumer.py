"""`Consumer`: reads a queue's shard streams through its consumer group, and acks."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from ami import _ami
from ami._errors import ErrorPump
from ami._options import ConsumerOptions, refuse_unknown
from ami._seeds import seed_list
from ami.exceptions import ClientClosedError, OperationTimeout

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

Message = _ami.Message


class Consumer:
    """Reads queue `name` as member `consumer` of its group, wire-compatible with the Go ami.

    One reader per shard stream fills a bounded prefetch: first the entries this
    consumer name received before but never acked (so a restarted consumer gets its
    unfinished work back first), then new ones. `ack` queues the id; a background task
    writes XACK per stream in batches and deletes the acked entries (see `trim_acked`).

    Delivery is at least once: a message that is not acked stays pending for this
    consumer name and is delivered again when a consumer of that name starts.

    Args:
        name: Queue name.
        consumer: This consumer's name in the group; unique among running consumers.
        **options: Any keys of `ConsumerOptions` (where the cluster is, prefetch, acks,
            claims, dead letters, TLS, `on_error`), each documented there with its
            default and trade-off.

    Raises:
        ConfigError: An option is invalid.
        ConnectError: The cluster could not be reached within `connect_timeout`.
    """

    def __init__(self, name: str, *, consumer: str, **options: Unpack[ConsumerOptions]) -> None:
        refuse_unknown("Consumer", options, ConsumerOptions.__optional_keys__)
        self.name = name
        self.consumer = consumer
        on_error = options.pop("on_error", None)
        if "nodes" in options:
            options["nodes"] = seed_list(options["nodes"])
        self._core = _ami.ConsumerCore(name, consumer=consumer, **options)
        self._prefetch_count = self._core.prefetch_count
        self._errors = ErrorPump(self._core, on_error)

    def consume(self, max_messages: int = 1000, timeout: float | None = 1.0) -> list[Message]:
        """Takes up to `max_messages` delivered messages in one call.

        Args:
            max_messages: Most messages to return.
            timeout: Seconds to wait for the first message; None waits until one
                arrives or the consumer is stopped.

        Returns:
            The messages, possibly none.

        Raises:
            ClientClosedError: The consumer is closed.
        """
        self._check_open()
        return self._core.consume(max_messages, timeout)

    def __iter__(self) -> Iterator[Message]:
        """Yields messages as they arrive, until `stop` or `close` and the prefetch is empty."""
        while True:
            batch = self._core.consume(self._prefetch_count, None)
            if not batch:
                return
            yield from batch

    def ack(self, message: Message) -> None:
        """Queues the ack (XACK + XDEL) of one message; written in the background.

        Waits while the ack buffer is full (see `pending_buffer_size`).

        Raises:
            ConfigError: The message came from another queue.
            ClientClosedError: The consumer is closed.
            OperationTimeout: The ack buffer stayed full for `ack_timeout`.
        """
        self._core.ack(message)

    def ack_many(self, messages: Iterable[Message]) -> int:
        """Queues the acks of many messages in one call, waiting while the buffer is full.

        Returns:
            How many acks were queued (all of them).

        Raises:
            OperationTimeout: The ack buffer stayed full for `ack_timeout`; the acks
                that were not queued are not written and their messages stay pending.
        """
        return self._core.ack_many(messages)

    def touch(self, *messages: Message) -> int:
        """Tells the group these messages are still being handled (resets their idle
        time), so no other consumer claims them after `claim_idle`.

        Returns:
            How many of them are still pending with this consumer.
        """
        return self._core.touch(messages)

    def nack(self, message: Message, *, delay: float = 0.0) -> bool:
        """Hands a message back for redelivery instead of acking it.

        The message keeps its id and stays pending under this consumer, but looks long
        abandoned, so the next claim pass of any consumer of the group takes it: this
        consumer's own pass runs at once, the others' within a quarter of their
        `claim_idle`. Each redelivery counts one more delivery, so a message nacked
        again and again is dead-lettered after `max_deliveries`.

        Args:
            message: A message this consumer delivered.
            delay: Seconds to hold the message first (at most `claim_idle`): its idle
                time is reset now, and it becomes claimable once `delay` has passed,
                if this process lives that long (otherwise it is claimed after
                `claim_idle`, as any pending message is). A consumer whose `claim_idle`
                is shorter than `delay` may claim it sooner.

        Returns:
            True if the message was still pending here; False if it was acked, or
            claimed by another consumer, already (then nothing is changed).

        Raises:
            ConfigError: The message came from another queue, `delay` is negative or
                longer than `claim_idle`, or `claim_idle` is None (nothing would claim it).
            ClientClosedError: The consumer is closed.
        """
        return self._core.nack([message], delay) == 1

    def nack_many(self, messages: Iterable[Message], *, delay: float = 0.0) -> int:
        """`nack` for many messages in one call.

        Returns:
            How many of them were still pending here and were handed back.
        """
        return self._core.nack(messages, delay)

    def flush(self, timeout: float | None = None) -> int:
        """Waits until queued acks are written.

        Returns:
            How many acks are still unwritten.
        """
        return self._core.flush(timeout)

    def stop(self) -> None:
        """Stops reading. Iteration ends once what was already read has been yielded."""
        self._core.stop()

    def close(self, timeout: float | None = None) -> None:
        """Stops reading, hands unread messages back and writes the queued acks. Safe to
        call twice.

        Messages read but not handed out are given back to the group: they stay pending
        under this consumer's name but look long idle, so any consumer's next claim pass
        takes them, and the delivery their read counted is taken back.

        Raises:
            OperationTimeout: Acks were still unwritten after `timeout` seconds.
        """
        self._core.close()
        left = self._core.flush(timeout)
        if left:
            raise OperationTimeout(f"close: {left} ack(s) still unwritten", timeout or 0.0)
        self._errors.join(timeout=1.0)

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._core.closed

    @property
    def stopped(self) -> bool:
        """True once `stop` or `close` was called."""
        return self._core.stopped

    @property
    def streams(self) -> list[str]:
        """The shard streams read, ``qu{i}_NAME`` (``qu{TAG}_NAME`` in the spread layout)."""
        return self._core.streams

    @property
    def group(self) -> str:
        """The consumer group, ``qu_NAME_group``."""
        return self._core.group

    def stats(self) -> dict[str, int]:
        """Counters: delivered, acked, ack failures, retries, invalid entries, claimed,
        dead-lettered, handed back by `close`, nacked, pending acks."""
        return self._core.stats()

    def _check_open(self) -> None:
        if self._core.closed:
            raise ClientClosedError("consumer is closed")

    def __enter__(self) -> Consumer:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ami.Consumer {self.name!r} consumer={self.consumer!r} {state}>"
