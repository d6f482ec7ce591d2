"""`Consumer`: reads a queue's shard streams through its consumer group, and acks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType

from ami import _ami
from ami._errors import ErrorHandler, ErrorPump
from ami._seeds import seed_list
from ami.exceptions import ClientClosedError, OperationTimeout

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
        nodes: Seed nodes, as for `Producer`.
        shards: Number of shard streams; must match the producers.
        prefetch_count: Most entries read from one shard per XREADGROUP. The prefetch
            holds up to about ``2 * shards + 1`` reads (2,100 entries with the
            defaults). Bigger is faster and uses more memory.
        block: Seconds a read waits on an idle shard (XREADGROUP BLOCK); 0 or None
            polls instead. Longer blocks mean fewer idle round trips but a slower `stop`.
        pending_buffer_size: Most acks held before `ack` blocks. `ack` waits for room
            for up to `ack_timeout`, then raises `OperationTimeout`; an ack is never
            dropped silently. Acks not yet written when a process dies are lost, and their
            messages are delivered again.
        pipe_buffer_size: Most ids per ack write to one stream.
        pipe_period: Seconds acks may gather before they are written.
        ack_timeout: Seconds an ack may wait for room in a full ack buffer (then `ack`
            raises `OperationTimeout`), and seconds an ack batch may spend retrying before
            it is reported and given up (its messages stay pending and come back).
        claim_idle: Seconds after which a message pending with another consumer of the
            group (one that died, or hangs) is claimed by this one and delivered again;
            this consumer's own messages are claimed back only once the application has
            held them this long without an ack, never while they wait in the prefetch.
            Shorter recovers faster but re-delivers messages whose handlers are merely
            slow; call `touch` to keep a message longer. None never claims (the Go
            ami's behaviour).
        max_deliveries: Deliveries after which a message is moved to the dead-letter
            stream ``qu{i}:dlq:NAME`` (with its body, delivery count and original id)
            and acked off the queue, all or nothing, so a poison message cannot loop
            forever. Reads that never reached the application do not count. None
            redelivers forever.
        check_shards: As for `Producer`.
        trim_acked: Delete the acked entries at the head of the stream (up to its first
            entry that is not in the batch) with one ``XTRIM``, and XDEL only the rest,
            in one server script per batch. It deletes exactly the ids plain XACK+XDEL
            would, at a fraction of the server's cost (XDEL scans a stream node per id):
            the script reads one entry per read of the consumer, to check that the
            acked entries of that read still sit at the head of the stream. False sends
            plain XACK+XDEL, as the Go ami does; a server that refuses scripts (no
            ``+eval``) gets that anyway.
        username, password, tls, tls_ca_file, tls_cert_file, tls_key_file,
        tls_insecure_skip_verify: As for `Producer`.
        connect_timeout: Seconds to reach the cluster at start.
        username: ACL user for seeds whose URL carries no credentials.
        password: Password (with `username`, or for ``requirepass``). It never appears
            in `repr`, exceptions or logs.
        response_timeout: Seconds to wait for one reply (blocking reads add `block`).
        on_error: Called from a background thread with each `AmiError` met in the
            background. Default: a warning on the ``ami`` logger.

    Raises:
        ConfigError: An option is invalid.
        ConnectError: The cluster could not be reached within `connect_timeout`.
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
        self.name = name
        self.consumer = consumer
        self._prefetch_count = prefetch_count
        self._core = _ami.ConsumerCore(
            name,
            consumer=consumer,
            nodes=seed_list(nodes),
            shards=shards,
            prefetch_count=prefetch_count,
            block=block,
            pending_buffer_size=pending_buffer_size,
            pipe_buffer_size=pipe_buffer_size,
            pipe_period=pipe_period,
            ack_timeout=ack_timeout,
            claim_idle=claim_idle,
            max_deliveries=max_deliveries,
            check_shards=check_shards,
            trim_acked=trim_acked,
            connect_timeout=connect_timeout,
            response_timeout=response_timeout,
            username=username,
            password=password,
            tls=tls,
            tls_ca_file=tls_ca_file,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_insecure_skip_verify=tls_insecure_skip_verify,
        )
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
        """The shard streams read, ``qu{i}_NAME``."""
        return self._core.streams

    @property
    def group(self) -> str:
        """The consumer group, ``qu_NAME_group``."""
        return self._core.group

    def stats(self) -> dict[str, int]:
        """Counters: delivered, acked, ack failures, retries, invalid entries, claimed,
        dead-lettered, handed back by `close`, pending acks."""
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
