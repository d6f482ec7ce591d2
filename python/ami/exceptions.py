"""Exceptions raised by ami.

Every exception derives from `AmiError`; where a builtin fits, it is a base too, so
`except ValueError` or `except TimeoutError` work as expected::

    AmiError
    ├── ConfigError            (also ValueError)       an option or argument is invalid
    ├── InvalidMessageError    (also TypeError)        a body or key that is not bytes or str
    │   └── InvalidHeaderError (also ValueError)       headers of a wrong type, name or value
    ├── MessageTooLargeError   (also ValueError)       a body over max_message_bytes
    ├── ConnectError           (also ConnectionError)  the cluster could not be reached
    │   └── UnsupportedServerError                     a server older than Redis 6.2
    ├── OperationTimeout       (also TimeoutError)     a wait ran out of time
    ├── ClientClosedError      (also RuntimeError)     the client was used after close()
    ├── QueueNotFoundError     (also LookupError)      an operation needs a queue that is not there
    ├── ServerError                                    Redis refused a command for good
    ├── TransientError                                 a command failed and will be retried
    ├── DeliveryError                                  accepted messages were not written
    ├── InvalidEntryError                              an entry without a body was acked off
    ├── DeadLetteredError                              an entry went to the dead-letter stream
    ├── InternalError                                  a background task failed (a bug)
    └── ClusterError                                   the local cluster launcher failed
"""

from __future__ import annotations

__all__ = [
    "AmiError",
    "ClientClosedError",
    "ClusterError",
    "ConfigError",
    "ConnectError",
    "DeadLetteredError",
    "DeliveryError",
    "InternalError",
    "InvalidEntryError",
    "InvalidHeaderError",
    "InvalidMessageError",
    "MessageTooLargeError",
    "OperationTimeout",
    "QueueNotFoundError",
    "ServerError",
    "TransientError",
    "UnsupportedServerError",
]


class AmiError(Exception):
    """Base class of every exception raised by ami."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(AmiError, ValueError):
    """An option or argument is invalid. Raised before anything touches the network.

    Attributes:
        option: The name of the offending option.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class InvalidMessageError(AmiError, TypeError):
    """A message body (or key) is neither bytes, bytearray nor str."""


class InvalidHeaderError(InvalidMessageError, ValueError):
    """Headers that cannot be sent: not a mapping, a name that is not a `str` or is empty,
    longer than 255 bytes of UTF-8 or holds a control character, or a value that is not
    bytes, bytearray or str. Nothing of the message was buffered.

    Both a `ValueError` and, as every `InvalidMessageError`, a `TypeError`.
    """


class MessageTooLargeError(AmiError, ValueError):
    """A body is over `max_message_bytes`; nothing of it was buffered or sent.

    Attributes:
        size: The body's size in bytes.
        limit: The producer's `max_message_bytes`.
    """

    def __init__(self, message: str, size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class ConnectError(AmiError, ConnectionError):
    """The seed nodes could not be reached, or did not form a cluster, in time.

    Attributes:
        nodes: The seed nodes that were tried, comma-separated.
    """

    def __init__(self, message: str, nodes: str = "") -> None:
        super().__init__(message)
        self.nodes = nodes


class UnsupportedServerError(ConnectError):
    """A server holding one of the queue's streams is older than Redis 6.2.

    Attributes:
        key: A stream that server holds.
        version: The ``redis_version`` it reports.
    """

    def __init__(self, message: str, key: str = "", version: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.version = version


class OperationTimeout(AmiError, TimeoutError):
    """A wait ran out of time.

    Attributes:
        seconds: How long was waited.
    """

    def __init__(self, message: str, seconds: float = 0.0) -> None:
        super().__init__(message)
        self.seconds = seconds


class ClientClosedError(AmiError, RuntimeError):
    """A producer or consumer was used after `close()`."""


class QueueNotFoundError(AmiError, LookupError):
    """The queue left no trace: no recorded shard count, no shard stream, no dead letters.

    Attributes:
        name: The queue name.
    """

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class ServerError(AmiError):
    """Redis refused a command for a reason that retrying cannot fix.

    Attributes:
        command: The command, e.g. ``"XADD"``.
        key: The stream it was sent to.
        code: The error code of the reply, e.g. ``"WRONGTYPE"`` (empty for I/O failures).
    """

    def __init__(self, message: str, command: str = "", key: str = "", code: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.key = key
        self.code = code


class TransientError(AmiError):
    """A command failed for a passing reason (a lost or refused connection, a timeout,
    a failover, a slot on the move) and will be tried again. Handed to `on_error`, never
    raised: it says the client is working around a fault. What finally fails for good
    comes as `ServerError` or `DeliveryError`.

    Attributes:
        command: The command, e.g. ``"XADD"``.
        key: The stream it was sent to.
        node: The node serving that stream, as last known (``host:port``).
        code: The error code of the reply, e.g. ``"TRYAGAIN"`` (empty for I/O failures).
    """

    def __init__(
        self, message: str, command: str = "", key: str = "", node: str = "", code: str = ""
    ) -> None:
        super().__init__(message)
        self.command = command
        self.key = key
        self.node = node
        self.code = code


class DeliveryError(AmiError):
    """Messages that were accepted could not be written before `delivery_timeout`.

    Attributes:
        failed: How many messages were given up on.
    """

    def __init__(self, message: str, failed: int = 0) -> None:
        super().__init__(message)
        self.failed = failed


class InvalidEntryError(AmiError):
    """A stream entry had no field ``m`` or was deleted while pending; it was acked off.

    Attributes:
        stream: The shard stream.
        id: The entry id.
    """

    def __init__(self, message: str, stream: str = "", id: str = "") -> None:
        super().__init__(message)
        self.stream = stream
        self.id = id


class DeadLetteredError(AmiError):
    """An entry was delivered `max_deliveries` times and moved to the dead-letter stream.

    Attributes:
        stream: The shard stream it was taken from.
        id: Its id there.
        deliveries: How many times it had been delivered.
    """

    def __init__(self, message: str, stream: str = "", id: str = "", deliveries: int = 0) -> None:
        super().__init__(message)
        self.stream = stream
        self.id = id
        self.deliveries = deliveries


class InternalError(AmiError):
    """A background task of the client failed unexpectedly: a bug in ami.

    It is reported to `on_error` and raised by every later call of that client; close
    it and start another. Messages it held are reported, never dropped silently.

    Attributes:
        task: Which task failed, e.g. ``"reader"`` or ``"writer"``.
    """

    def __init__(self, message: str, task: str = "") -> None:
        super().__init__(message)
        self.task = task


class ClusterError(AmiError):
    """The local development cluster could not be started or stopped."""
