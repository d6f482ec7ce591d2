"""A small blocking, cluster-aware Redis client for tooling (``ami stats``, ``ami tail``).

Not for the hot path: one command at a time, no pipelining, no pooling. It routes each
command to the master owning its key, following a ``MOVED`` or ``ASK`` redirect once,
and also talks to a standalone (non-cluster) server. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ._resp import Arg, Reply, RespConnection, RespError
from ._seeds import seed_list
from .exceptions import ConfigError, ConnectError, ServerError

if TYPE_CHECKING:
    from typing import Self

SLOTS = 16384

Address = tuple[str, int]


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_CRC16_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses it.

    Args:
        data: The bytes to checksum.

    Returns:
        The 16-bit checksum.
    """
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: str | bytes) -> int:
    """The cluster hash slot of a key, honouring ``{hash tags}``.

    Args:
        key: The key; ``str`` is encoded as UTF-8.

    Returns:
        The slot, in ``0..16383``.
    """
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        # An empty tag "{}" does not count: the whole key is hashed.
        if end > start + 1:
            data = data[start + 1 : end]
    return crc16(data) % SLOTS


@dataclass(frozen=True)
class _Credentials:
    username: str | None = None
    password: str | None = None


def parse_node(node: str) -> tuple[Address, _Credentials]:
    """Split a seed node into its address and credentials.

    Args:
        node: ``host:port`` or ``redis://[user:password@]host:port``.

    Returns:
        ``((host, port), credentials)``.

    Raises:
        ConfigError: If the node is neither form.
    """
    if node.startswith("rediss://"):
        raise ConfigError("invalid nodes: TLS (rediss://) is not supported yet", "nodes")
    if node.startswith("redis://"):
        return _parse_url(node)
    host, _, port = node.rpartition(":")
    return (host, _parse_port(node, host, port)), _Credentials()


def _parse_url(node: str) -> tuple[Address, _Credentials]:
    try:
        url = urlsplit(node)
        host, port = url.hostname or "", url.port
    except ValueError:
        raise _bad_node(node) from None
    if not host or not port:
        raise _bad_node(node)
    username = unquote(url.username) if url.username else None
    password = unquote(url.password) if url.password else None
    return (host, port), _Credentials(username, password)


def _parse_port(node: str, host: str, port: str) -> int:
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad_node(node)
    return int(port)


def _bad_node(node: str) -> ConfigError:
    return ConfigError(f"invalid nodes: {node!r} is not host:port or a redis:// URL", "nodes")


class ClusterClient:
    """A blocking client that sends each command to the master owning its key.

    Args:
        nodes: Seed nodes: ``"host:port"`` strings or ``redis://`` URLs, as a list or one
            comma-separated string. The first reachable one is used to read the slot map.
        timeout: Seconds for connecting and for each socket operation.

    Raises:
        ConfigError: If a seed node is malformed.
        ConnectError: If no seed node can be reached, or none returns a slot map.
    """

    def __init__(self, nodes: str | Iterable[str], *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._seeds = [parse_node(node) for node in seed_list(nodes)]
        # Every node of a cluster shares the credentials; take the first given.
        self._credentials = next(
            (cred for _, cred in self._seeds if cred.password is not None), _Credentials()
        )
        self._connections: dict[Address, RespConnection] = {}
        self._slots: list[Address] = []
        self._standalone: Address | None = None
        self._connect_to_seed()

    @property
    def standalone(self) -> bool:
        """True when the server is not a cluster and every command goes to one node."""
        return self._standalone is not None

    def command(self, key: str | bytes, *args: Arg) -> Reply:
        """Send a command to the master that owns `key`.

        Args:
            key: The key that chooses the node; it is not added to `args`.
            *args: The command name and all its arguments (including `key` if needed).

        Returns:
            The reply, as returned by `RespConnection.command`.

        Raises:
            ServerError: If the server replies with an error (after following one
                redirect), or the connection fails mid-command (``code`` is empty).
            ConnectError: If the owning node cannot be reached.
        """
        address = self._owner(key)
        try:
            return self._send(address, key, args)
        except RespError as exc:
            target = _redirect_target(str(exc), address[0])
            if target is None:
                raise _server_error(exc, address, key, args) from None
            return self._follow(str(exc).startswith("ASK "), target, key, args)

    def close(self) -> None:
        """Close every connection; safe to call more than once."""
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- routing

    def _connect_to_seed(self) -> None:
        errors = []
        for address, _ in self._seeds:
            try:
                self._load_slot_map(address)
                return
            except (ConnectError, ServerError) as exc:
                errors.append(str(exc))
        self.close()
        nodes = self._nodes()
        raise ConnectError(f"no seed node is usable: {'; '.join(errors)}", nodes)

    def _load_slot_map(self, address: Address) -> None:
        connection = self._connection(address)
        try:
            reply = connection.command("CLUSTER", "SLOTS")
        except RespError as exc:
            if "cluster support disabled" not in str(exc):
                raise _server_error(exc, address, "", ("CLUSTER", "SLOTS")) from None
            self._standalone = address
            return
        except OSError as exc:
            raise self._io_error(exc, address, "", ("CLUSTER", "SLOTS")) from None
        self._slots = _slot_table(reply, address[0])

    def _owner(self, key: str | bytes) -> Address:
        if self._standalone is not None:
            return self._standalone
        address = self._slots[key_slot(key)] if self._slots else None
        if address is None or not address[0]:
            raise ConnectError(f"no node serves the slot of {_text(key)!r}", self._nodes())
        return address

    def _follow(self, ask: bool, target: Address, key: str | bytes, args: tuple[Arg, ...]) -> Reply:
        try:
            if ask:
                return self._send(target, key, args, asking=True)
            # MOVED: the slot map is stale, so refresh it for the commands that follow.
            self._load_slot_map(target)
            return self._send(target, key, args)
        except RespError as exc:
            raise _server_error(exc, target, key, args) from None

    def _send(
        self, address: Address, key: str | bytes, args: tuple[Arg, ...], *, asking: bool = False
    ) -> Reply:
        connection = self._connection(address)
        try:
            if asking:
                connection.command("ASKING")
            return connection.command(*args)
        except OSError as exc:
            raise self._io_error(exc, address, key, args) from None

    def _connection(self, address: Address) -> RespConnection:
        connection = self._connections.get(address)
        if connection is None:
            connection = self._open(address)
            self._connections[address] = connection
        return connection

    def _open(self, address: Address) -> RespConnection:
        host, port = address
        try:
            connection = RespConnection(host, port, self.timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}", self._nodes()) from None
        try:
            self._authenticate(connection)
        except (OSError, RespError) as exc:
            connection.close()
            raise ConnectError(f"cannot log in to {host}:{port}: {exc}", self._nodes()) from None
        return connection

    def _authenticate(self, connection: RespConnection) -> None:
        cred = self._credentials
        if cred.password is None:
            return
        if cred.username:
            connection.command("AUTH", cred.username, cred.password)
        else:
            connection.command("AUTH", cred.password)

    def _io_error(
        self, error: OSError, address: Address, key: str | bytes, args: tuple[Arg, ...]
    ) -> ServerError:
        # The connection is in an unknown state (a late reply may still arrive): drop it.
        connection = self._connections.pop(address, None)
        if connection is not None:
            connection.close()
        detail = str(error) or type(error).__name__
        command = _command_name(args)
        return ServerError(
            f"{_describe(command, key, address)} failed: {detail}", command, _text(key), ""
        )

    def _nodes(self) -> str:
        return ",".join(f"{host}:{port}" for (host, port), _ in self._seeds)


def _slot_table(reply: Reply, default_host: str) -> list[Address]:
    """Expand a ``CLUSTER SLOTS`` reply to one master address per slot.

    Slots no master serves get ``("", 0)``.
    """
    table: list[Address] = [("", 0)] * SLOTS
    for entry in reply if isinstance(reply, list) else []:
        if not isinstance(entry, list) or len(entry) < 3:
            continue
        first, last, master = entry[0], entry[1], entry[2]
        if isinstance(first, int) and isinstance(last, int) and isinstance(master, list):
            address = _node_address(master, default_host)
            table[first : last + 1] = [address] * (last - first + 1)
    return table


def _node_address(node: list[Reply], default_host: str) -> Address:
    host, port = node[0], node[1]
    text = host.decode() if isinstance(host, bytes) else ""
    # An empty or "?" endpoint means "the address you reached me on".
    if text in ("", "?"):
        text = default_host
    return text, port if isinstance(port, int) else 0


def _redirect_target(message: str, current_host: str) -> Address | None:
    """The address of a ``MOVED 3999 host:port`` or ``ASK ...`` error; None for others."""
    kind, _, rest = message.partition(" ")
    _, _, endpoint = rest.partition(" ")
    host, _, port = endpoint.rpartition(":")
    if kind not in ("MOVED", "ASK") or not port.isdigit():
        return None
    # An empty or "?" host means "the node you are talking to" (unknown endpoint).
    return (host if host not in ("", "?") else current_host), int(port)


def _server_error(
    error: RespError, address: Address, key: str | bytes, args: tuple[Arg, ...]
) -> ServerError:
    message = str(error)
    first = message.split(" ", 1)[0]
    code = first if first.isupper() else ""
    command = _command_name(args)
    return ServerError(f"{_describe(command, key, address)}: {message}", command, _text(key), code)


def _describe(command: str, key: str | bytes, address: Address) -> str:
    target = f"{command} {_text(key)}" if key else command
    return f"{target} on {address[0]}:{address[1]}"


def _command_name(args: tuple[Arg, ...]) -> str:
    return _text(args[0]).upper() if args else ""


def _text(value: Arg | Reply) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
