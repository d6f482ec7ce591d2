"""A tiny blocking RESP2 client, just enough to drive a local Redis/Valkey cluster.

Deliberately minimal (no pipelining, no pooling, no RESP3). The launcher keeps its own
because it talks to each server before a cluster exists, which the cluster clients of the
core cannot, and it must not depend on a third-party Redis client.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Arg", "Reply", "RespConnection", "RespError", "connect", "encode_command"]

Reply: TypeAlias = "bytes | int | list[Reply] | None"
Arg: TypeAlias = str | bytes | int | float


class RespError(Exception):
    """An error reply (``-ERR ...``) from the server, or a protocol violation."""


class RespConnection:
    """A blocking connection speaking RESP2 to a single server.

    Args:
        host: Server host name or IP address.
        port: Server TCP port.
        timeout: Timeout in seconds for connecting and for each socket operation.

    Raises:
        OSError: If the connection cannot be established.
    """

    def __init__(
        self, host: str, port: int, timeout: float = 5.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.port = port
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = tls.wrap_socket(sock, server_hostname=host) if tls else sock
        self._reader = self._sock.makefile("rb")

    def command(self, *args: Arg) -> Reply:
        """Send one command and return its reply.

        Args:
            *args: Command name and arguments; ``str``/``int``/``float`` are sent as UTF-8.

        Returns:
            ``bytes`` for simple and bulk strings, ``int`` for integers, ``None`` for null
            replies, or a (nested) ``list`` for arrays.

        Raises:
            RespError: If the server replies with an error.
            OSError: On socket errors, timeouts or if the server closed the connection.
        """
        self._sock.sendall(encode_command(args))
        return self._read_reply()

    def close(self) -> None:
        """Close the connection; safe to call more than once."""
        try:
            self._reader.close()
        finally:
            self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read_line(self) -> bytes:
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"connection to {self.host}:{self.port} closed by server")
        return line[:-2]

    def _read_reply(self) -> Reply:
        line = self._read_line()
        kind, payload = line[:1], line[1:]
        if kind == b"+":
            return payload
        if kind == b"-":
            raise RespError(payload.decode("utf-8", "replace"))
        if kind == b":":
            return int(payload)
        if kind == b"$":
            return self._read_bulk(int(payload))
        if kind == b"*":
            count = int(payload)
            return None if count < 0 else [self._read_reply() for _ in range(count)]
        raise RespError(f"unexpected RESP reply type {line[:20]!r}")

    def _read_bulk(self, length: int) -> bytes | None:
        if length < 0:
            return None
        data = self._reader.read(length + 2)
        if len(data) != length + 2:
            raise ConnectionError(f"connection to {self.host}:{self.port} closed by server")
        return data[:-2]


def encode_command(args: tuple[Arg, ...]) -> bytes:
    """Encode a command as a RESP2 array of bulk strings.

    Args:
        args: Command name and arguments.

    Returns:
        The bytes to send on the wire.
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def connect(
    host: str,
    port: int,
    timeout: float = 5.0,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> RespConnection:
    """Open a RESP2 connection.

    Args:
        host: Server host name or IP address.
        port: Server TCP port.
        timeout: Timeout in seconds for connecting and for each socket operation.
        password: Sent with AUTH (the default user) when given.
        tls: Speak TLS with this context.

    Returns:
        An open connection; close it with ``close()`` or use it as a context manager.

    Raises:
        OSError: If the connection cannot be established.
    """
    conn = RespConnection(host, port, timeout, tls)
    if password is not None:
        try:
            conn.command("AUTH", password)
        except BaseException:
            conn.close()
            raise
    return conn
