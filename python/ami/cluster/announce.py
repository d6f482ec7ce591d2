"""Nodes of a running cluster announcing other client ports for a while (a proxy's).

``CONFIG SET cluster-announce-port`` makes a node give that port in ``CLUSTER SLOTS``,
``CLUSTER SHARDS`` and ``MOVED`` replies, so cluster clients connect there, redirects
included. The cluster bus is not moved: each node keeps announcing its own bus port
(its port + 10000, or ``cluster-announce-bus-port``), which is checked before the ports
count as announced. Redis 6.2 tells its peers about a port set this way but keeps its
own port in its own replies; the wait below then fails with a clear error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from ami.exceptions import ClusterError

from .node import _CONNECT_TIMEOUT, _POLL_INTERVAL, log
from .replies import _parse_info, _text
from .resp import RespError, connect

# A node tells its peers about a new port in its next ping: about a second each.
ANNOUNCE_TIMEOUT = 30.0

_Ports = dict[str, int]


@contextmanager
def announcing(
    ports: _Ports, *, password: str | None = None, timeout: float = ANNOUNCE_TIMEOUT
) -> Iterator[None]:
    """Makes each node announce another client port while the block runs.

    Args:
        ports: Every node of the cluster, ``"host:port"``, mapped to the port it should
            announce.
        password: ``requirepass`` of the nodes.
        timeout: Seconds to wait until every node tells clients the new ports, and again
            until they tell the old ones afterwards.

    Raises:
        ClusterError: The nodes did not all announce the ports in time, or the cluster
            bus or state changed; the old ports are restored first.
    """
    before = {address: _announced_port(address, password) for address in ports}
    own = {address: before[address] or int(address.rsplit(":", 1)[1]) for address in ports}
    buses = _bus_ports(next(iter(ports)), password)
    try:
        _set_ports(ports, password)
        _wait_for(ports, buses, password, timeout)
    except BaseException:
        _restore(before, own, buses, password, timeout)
        raise
    try:
        yield
    finally:
        _restore(before, own, buses, password, timeout)


def _restore(
    before: _Ports, own: _Ports, buses: _Ports, password: str | None, timeout: float
) -> None:
    _set_ports(before, password)
    _wait_for(own, buses, password, timeout)


def _announced_port(address: str, password: str | None) -> int:
    host, port = address.rsplit(":", 1)
    with connect(host, int(port), _CONNECT_TIMEOUT, password) as conn:
        reply = conn.command("CONFIG", "GET", "cluster-announce-port")
    assert isinstance(reply, list)
    return int(_text(reply[1]))


def _set_ports(ports: _Ports, password: str | None) -> None:
    for address, announced in ports.items():
        host, port = address.rsplit(":", 1)
        with connect(host, int(port), _CONNECT_TIMEOUT, password) as conn:
            conn.command("CONFIG", "SET", "cluster-announce-port", announced)


def _wait_for(ports: _Ports, buses: _Ports, password: str | None, timeout: float) -> None:
    """Waits until every node gives clients exactly `ports`, and the bus `buses`."""
    wanted = set(ports.values())
    deadline = time.monotonic() + timeout
    seen: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            seen = {address: _view(address, password) for address in ports}
        except (OSError, RespError) as exc:
            seen = {"error": str(exc)}
        else:
            if all(view == (wanted, buses, "ok") for view in seen.values()):
                return
        time.sleep(_POLL_INTERVAL)
    log.warning("nodes did not announce %s in time: %s", sorted(wanted), seen)
    raise ClusterError(
        f"the nodes did not announce client ports {sorted(wanted)} within {timeout:g} s "
        f"(Redis 6.2 keeps its own port in its own CLUSTER SLOTS when set at run time)"
    )


def _view(address: str, password: str | None) -> tuple[set[int], _Ports, str]:
    """What one node tells: the client ports in CLUSTER SLOTS, every node's bus port
    by node id, and its cluster state."""
    host, port = address.rsplit(":", 1)
    with connect(host, int(port), _CONNECT_TIMEOUT, password) as conn:
        slots = conn.command("CLUSTER", "SLOTS")
        buses = _parse_bus_ports(conn.command("CLUSTER", "NODES"))
        state = _parse_info(conn.command("CLUSTER", "INFO")).get("cluster_state", "?")
    assert isinstance(slots, list)
    client_ports = {
        int(_text(node[1]))
        for shard in slots
        if isinstance(shard, list)
        for node in shard[2:]
        if isinstance(node, list)
    }
    return client_ports, buses, state


def _bus_ports(address: str, password: str | None) -> _Ports:
    host, port = address.rsplit(":", 1)
    with connect(host, int(port), _CONNECT_TIMEOUT, password) as conn:
        return _parse_bus_ports(conn.command("CLUSTER", "NODES"))


def _parse_bus_ports(reply: object) -> _Ports:
    """Node id -> bus port, from ``CLUSTER NODES`` lines ``id ip:port@cport ...``."""
    buses = {}
    for line in _text(reply).splitlines():
        fields = line.split()
        if len(fields) >= 2 and "@" in fields[1]:
            buses[fields[0]] = int(fields[1].split("@", 1)[1].split(",", 1)[0])
    return buses
