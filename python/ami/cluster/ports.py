"""Picking free client ports whose cluster bus port (``P + 10000``) is free too."""

from __future__ import annotations

import socket

from ami.exceptions import ClusterError

BUS_PORT_OFFSET = 10000


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_ports(count: int, host: str = "127.0.0.1", reserved: set[int] | None = None) -> list[int]:
    """Pick ``count`` client ports ``P`` such that ``P`` and ``P + 10000`` are both free.

    Args:
        count: Number of ports to pick.
        host: Address the ports must be free on.
        reserved: Ports (client and bus) already handed out; updated in place.

    Returns:
        The chosen client ports.

    Raises:
        ClusterError: If not enough port pairs can be found.
    """
    reserved = set() if reserved is None else reserved
    chosen: list[int] = []
    held: list[socket.socket] = []
    try:
        # Keep every probe socket bound until the end so the OS never hands out a port twice.
        for _ in range(count * 50):
            if len(chosen) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            bus = port + BUS_PORT_OFFSET
            if bus >= 65536 or reserved & {port, bus} or not _port_free(host, bus):
                continue
            reserved.update((port, bus))
            chosen.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(chosen) < count:
        raise ClusterError(f"could not find {count} free port pairs (P, P+10000) on {host}")
    return chosen
