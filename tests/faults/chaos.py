"""Cluster-side faults: failover checks, live slot migration, memory limits, and a
local cluster on ports chosen before it starts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import redis

from ami.cluster import LocalCluster, find_server_binary, slot_ranges
from ami.cluster.processes import _parent_death_hook
from ami.cluster.resp import connect
from ami.cluster.slots import _add_slots
from ami.exceptions import ClusterError

MIGRATE_BATCH = 100
MIGRATE_TIMEOUT_MS = 10_000


@contextlib.contextmanager
def node(address: str) -> Iterator[redis.Redis]:
    """A plain (non-cluster) redis-py connection to one node."""
    host, port = address.rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port), socket_timeout=10, socket_connect_timeout=2)
    try:
        yield client
    finally:
        client.close()


def command(address: str, *args: Any) -> Any:
    """Runs one command on one node and returns the raw reply."""
    with node(address) as client:
        return client.execute_command(*args)


def keyslot(address: str, key: str) -> int:
    """The hash slot of `key`."""
    return int(command(address, "CLUSTER", "KEYSLOT", key))


def node_id(address: str) -> str:
    """The cluster node id of the node at `address`."""
    return bytes(command(address, "CLUSTER", "MYID")).decode()


def slot_owner(address: str, slot: int) -> str:
    """The master serving `slot`, according to the node at `address` (CLUSTER SLOTS)."""
    for first, last, master, *_ in command(address, "CLUSTER", "SLOTS"):
        if int(first) <= slot <= int(last):
            return f"{master[0].decode()}:{int(master[1])}"
    return ""


def cluster_info(address: str) -> dict[str, str]:
    """CLUSTER INFO of one node as a dict."""
    text = bytes(command(address, "CLUSTER", "INFO")).decode()
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def failed_over(live: list[str], dead: str, slot: int) -> bool:
    """Whether every live node reports a healthy cluster serving `slot` from a live master."""
    try:
        for address in live:
            if cluster_info(address).get("cluster_state") != "ok":
                return False
            owner = slot_owner(address, slot)
            if owner == dead or owner not in live:
                return False
    except (redis.RedisError, OSError):
        return False
    return True


def fill_slot(address: str, tag: str, count: int) -> None:
    """Writes `count` small keys with hash tag `tag` on the master at `address`, so that
    migrating their slot takes several MIGRATE rounds."""
    with node(address) as client:
        pipe = client.pipeline(transaction=False)
        for index in range(count):
            pipe.set(f"{{{tag}}}:filler:{index}", b"x" * 100)
        pipe.execute()


def migrate_slot(
    slot: int, source: str, target: str, masters: list[str], pause: float = 0.0
) -> int:
    """Moves `slot` from `source` to `target` like ``redis-cli --cluster reshard`` does.

    SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE ... KEYS until
    the source holds no key of the slot (pausing `pause` seconds between rounds, which
    keeps the slot half-migrated longer), then SETSLOT NODE on target, source and the
    other masters.

    Returns:
        How many keys were moved.
    """
    source_id, target_id = node_id(source), node_id(target)
    host, port = target.rsplit(":", 1)
    command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    moved = 0
    while keys := command(source, "CLUSTER", "GETKEYSINSLOT", slot, MIGRATE_BATCH):
        command(source, "MIGRATE", host, port, "", 0, MIGRATE_TIMEOUT_MS, "KEYS", *keys)
        moved += len(keys)
        time.sleep(pause)
    others = [address for address in masters if address not in (source, target)]
    for address in [target, source, *others]:
        command(address, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
    return moved


def slot_settled(masters: list[str], slot: int, owner: str) -> bool:
    """Whether every master agrees that `owner` serves `slot`."""
    return all(slot_owner(address, slot) == owner for address in masters)


def set_maxmemory(addresses: list[str], value: str) -> None:
    """``CONFIG SET maxmemory`` on each node (eviction policy stays ``noeviction``)."""
    for address in addresses:
        command(address, "CONFIG", "SET", "maxmemory", value)


class FixedPortCluster(LocalCluster):
    """A `LocalCluster` of masters on ports chosen by the caller.

    `launch` starts the servers (answering, but with no slots and no peers) and `form`
    makes them a cluster, so clients can be started before either step.
    """

    def __init__(self, ports: list[int], **options: Any) -> None:
        super().__init__(masters=len(ports), **options)
        self.ports = ports
        self.preassigned = 0

    def preassign(self, count: int) -> tuple[int, int]:
        """Gives the first `count` launched masters their slots, and nothing else: a
        half-formed cluster whose nodes know neither each other nor the other slots.

        Returns:
            The inclusive slot range now served, ``(0, last)``.
        """
        ranges = slot_ranges(len(self.ports))[:count]
        for server, (first, last) in zip(self._nodes, ranges, strict=False):
            with connect(server.host, server.port) as conn:
                _add_slots(conn, first, last)
        self.preassigned = count
        return ranges[0][0], ranges[-1][1]

    def _assign_slots(self, conns: dict[int, Any]) -> None:
        ranges = slot_ranges(len(self.ports))
        for server, (first, last) in list(zip(self._nodes, ranges, strict=True))[
            self.preassigned :
        ]:
            _add_slots(conns[server.port], first, last)

    def _launch_nodes(self, deadline: float) -> None:
        self._nodes = [self._spawn("master", port) for port in self.ports]
        for server in self._nodes:
            if not self._wait_pingable(server, deadline):
                raise ClusterError(self._failure_message(f"{server.address} to start"))

    def launch(self) -> None:
        """Starts the server processes without forming the cluster."""
        self.server = self.server or find_server_binary()
        self._started = True
        try:
            self._prepare_data_dir()
            self._preexec = _parent_death_hook()
            self._launch_nodes(time.monotonic() + self.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def form(self) -> None:
        """Assigns the slots and joins the launched servers into one cluster."""
        try:
            self._form_cluster(time.monotonic() + self.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def start(self) -> FixedPortCluster:
        """Launches and forms the cluster."""
        self.launch()
        self.form()
        return self
