"""`Producer`: buffered, batched, pipelined writes to the shard streams of a queue."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from ami import _ami, _shutdown
from ami._errors import ErrorHandler, ErrorPump
from ami._seeds import seed_list
from ami.exceptions import ClientClosedError, ConfigError, OperationTimeout

Body = bytes | bytearray | str


class Producer:
    """Writes messages to queue `name`, wire-compatible with the Go ami.

    `send` copies the body into a bounded buffer in the Rust core and returns at once;
    a background task groups messages into batches of `pipe_buffer_size` (or whatever
    gathered within `pipe_period`) and writes each batch as one pipeline of XADDs to one
    shard stream ``qu{i}_NAME``, rotating over the shards.

    Delivery is at least once: a batch whose reply is lost (timeout, failover) is sent
    again, which may duplicate some of its messages. A message is lost only if it
    cannot be written within `delivery_timeout`, and then `flush`/`close` raise
    `DeliveryError` and `on_error` is told.

    Args:
        name: Queue name (ASCII letters, digits and ``_-.:@``).
        nodes: Seed nodes: ``"host:port"`` strings, a comma-separated string, or a
            ``redis://`` URL. One reachable node is enough.
        shards: Number of shard streams; must match every producer and consumer of the
            queue. More shards spread a queue over more masters at a small memory cost.
        pending_buffer_size: Most messages accepted but not yet written; `send` blocks
            beyond it. The Go ami allows 10M; 1M absorbs long stalls and bounds memory.
        pending_buffer_bytes: Most body bytes accepted but not yet written.
        pipe_buffer_size: Messages per pipeline. Bigger batches are faster but each is
            one large request: keep `response_timeout` generous for big bodies.
        pipe_buffer_bytes: Body bytes per pipeline: batches of large messages are cut
            here, far below the server's query buffer limit (1 GiB by default).
        max_message_bytes: Largest body `send` accepts; bigger ones raise
            `MessageTooLargeError` before anything is buffered. 16 MiB by default:
            streams are a poor store for large blobs (every consumer read copies them),
            and the server refuses bulk strings over 512 MiB.
        pipe_period: Seconds a partial batch waits for more messages (linger).
        max_in_flight: Most pipelines awaiting replies at once, across shards.
        delivery_timeout: Seconds a batch may spend retrying before it is failed.
        send_timeout: Seconds `send` may block on a full buffer before raising
            `OperationTimeout`; None waits (failures still free space eventually).
        create_group: Create the consumer group (``XGROUP CREATE ... $ MKSTREAM``) at
            start, so messages sent before the first consumer runs are not skipped.
        check_shards: Record `shards` in the key ``qu_NAME_shards`` (first client of a
            queue), or check it against the recorded count, so clients that disagree
            fail at start with `ConfigError` instead of missing each other's shards.
        wait_replicas: Confirm a batch only after ``WAIT n`` in its pipeline reports
            that many replicas have it; otherwise it is sent again (duplicates) until
            `delivery_timeout`. Narrows, but does not close, the window in which a
            failover loses acknowledged writes. 0 (the default) does not wait.
        wait_timeout: Seconds the WAIT may block.
        balance_masters: Share batches equally among the masters that hold the shards,
            then among each master's shards, instead of equally among the shards (the
            Go ami's way). The default names put 2, 5 and 3 of 10 shards on a
            3-master cluster, so one master takes half the load; this gives each a
            third. Shards on a crowded master then hold fewer messages each; consumers,
            Go ones included, read every shard either way. The grouping follows slot
            moves within about 10 seconds.
        connect_timeout: Seconds to reach the cluster at start.
        username: ACL user for seeds whose URL carries no credentials.
        password: Password (with `username`, or for ``requirepass``). It never appears
            in `repr`, exceptions or logs.
        response_timeout: Seconds to wait for one reply.
        tls: Connect with TLS (also implied by ``rediss://`` seeds and the files below).
        tls_ca_file: PEM bundle of the CAs to trust; default the system's trust store.
        tls_cert_file: Client certificate (PEM), for servers that verify clients.
        tls_key_file: Its private key (PEM).
        tls_insecure_skip_verify: Do not verify the server's certificate. Anyone on
            the path can then read and change the traffic: for tests only.
        on_error: Called (from a background thread) with each `AmiError` the background
            work meets, retried ones included. Default: a warning on the ``ami`` logger.
        exit_timeout: Seconds the interpreter's exit waits for the messages of a producer
            that was never closed (a script that just ends, or `sys.exit`). What is still
            unwritten then is reported on stderr and to `on_error` as `DeliveryError`.
            0 does not wait. See `ami.shutdown_on_signals` for SIGTERM.

    Raises:
        ConfigError: An option is invalid.
        ConnectError: The cluster could not be reached within `connect_timeout`.
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
        send_timeout: float | None = None,
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
        self.name = name
        if isinstance(exit_timeout, bool) or not isinstance(exit_timeout, (int, float)):
            raise ConfigError(f"invalid exit_timeout: {exit_timeout!r}", "exit_timeout")
        if not exit_timeout >= 0:
            raise ConfigError("invalid exit_timeout: must be at least 0", "exit_timeout")
        self._exit_timeout = float(exit_timeout)
        self._core = _ami.ProducerCore(
            name,
            nodes=seed_list(nodes),
            shards=shards,
            pending_buffer_size=pending_buffer_size,
            pending_buffer_bytes=pending_buffer_bytes,
            pipe_buffer_size=pipe_buffer_size,
            pipe_buffer_bytes=pipe_buffer_bytes,
            max_message_bytes=max_message_bytes,
            pipe_period=pipe_period,
            max_in_flight=max_in_flight,
            delivery_timeout=delivery_timeout,
            send_timeout=send_timeout,
            create_group=create_group,
            check_shards=check_shards,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
            balance_masters=balance_masters,
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
        _shutdown.track(self)

    def send(self, body: Body) -> None:
        """Queues one message and returns at once (blocks only while the buffer is full).

        Args:
            body: The message; `str` is encoded as UTF-8.

        Raises:
            InvalidMessageError: `body` is not bytes, bytearray or str.
            MessageTooLargeError: `body` is over `max_message_bytes`.
            ClientClosedError: The producer is closed.
            OperationTimeout: The buffer stayed full for `send_timeout`.
        """
        self._core.send(body)

    def send_many(self, bodies: Iterable[Body]) -> int:
        """Queues many messages in one call: much faster than `send` in a loop.

        Returns:
            How many messages were queued.

        Raises:
            InvalidMessageError: A body is not bytes, bytearray or str; the bodies
                before it were queued.
            ClientClosedError: The producer is closed.
        """
        return self._core.send_many(bodies)

    def flush(self, timeout: float | None = None) -> int:
        """Writes what is buffered now and waits until it is confirmed.

        Args:
            timeout: Seconds to wait; None waits until everything is written or failed.

        Returns:
            How many accepted messages are still not written (0 when all are).

        Raises:
            DeliveryError: Messages failed since the last `flush`; `failed` says how many.
        """
        return self._core.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stops accepting messages and waits until everything accepted is written.

        Safe to call twice.

        Args:
            timeout: Seconds to wait; None waits (at most about `delivery_timeout`).

        Raises:
            DeliveryError: Some accepted messages could not be written.
            OperationTimeout: `timeout` passed with messages still unwritten; they keep
                being written in the background.
        """
        _shutdown.forget(self)
        self._core.close()
        left = self._core.flush(timeout)
        if left:
            raise OperationTimeout(f"close: {left} message(s) still unwritten", timeout or 0.0)
        self._errors.join(timeout=1.0)

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
