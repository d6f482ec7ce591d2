"""Forming a cluster from running nodes: epochs, slots, MEET, replicas, convergence.

:class:`_ClusterForming` sits between :class:`~ami.cluster.launch._NodeProcesses`
and :class:`ami.cluster.LocalCluster`; its steps are methods so subclasses can override
single steps (the fault tests' ``FixedPortCluster`` replaces ``_assign_slots``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ami.exceptions import ClusterError

from .launch import _NodeProcesses
from .node import _CONNECT_TIMEOUT, _POLL_INTERVAL, log
from .replies import _known_node_ids, _parse_info, _server_identity, _text
from .resp import RespConnection, RespError, connect
from .slots import SlotMap, _add_slots, _slot_map, slot_ranges


class _ClusterForming(_NodeProcesses):
    # Set by LocalCluster.__init__; see its docstring.
    server_name: str
    server_version: str

    def _identify(self) -> None:
        node = self._nodes[0]
        with connect(
            node.host, node.port, _CONNECT_TIMEOUT, self.password, self._tls_context()
        ) as conn:
            self.server_name, self.server_version = _server_identity(conn)

    def _form_cluster(self, deadline: float) -> None:
        conns = {
            node.port: connect(
                node.host, node.port, _CONNECT_TIMEOUT, self.password, self._tls_context()
            )
            for node in self._nodes
        }
        try:
            for node in self._nodes:
                node.node_id = _text(conns[node.port].command("CLUSTER", "MYID"))
            self.server_name, self.server_version = _server_identity(conns[self._nodes[0].port])
            self._set_config_epochs(conns)
            self._assign_slots(conns)
            self._meet(conns)
            self._wait_until(deadline, "all nodes to know each other", self._all_known, conns)
            self._attach_replicas(conns)
            self._wait_until(
                deadline, "cluster_state:ok and an agreed slot map", self._converged, conns
            )
        finally:
            for conn in conns.values():
                conn.close()

    def _set_config_epochs(self, conns: dict[int, RespConnection]) -> None:
        # Distinct epochs up front (as redis-cli does) skip the epoch-collision dance.
        for epoch, node in enumerate(self._nodes, start=1):
            try:
                conns[node.port].command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
            except RespError as exc:
                log.debug("SET-CONFIG-EPOCH on %s failed: %s", node.address, exc)

    def _assign_slots(self, conns: dict[int, RespConnection]) -> None:
        masters = [node for node in self._nodes if node.role == "master"]
        for node, (first, last) in zip(masters, slot_ranges(len(masters)), strict=True):
            _add_slots(conns[node.port], first, last)

    def _meet(self, conns: dict[int, RespConnection]) -> None:
        # A full mesh of MEETs converges in one handshake round instead of waiting for
        # gossip to spread the nodes that only the first node was introduced to.
        for index, node in enumerate(self._nodes):
            for other in self._nodes[:index]:
                conns[node.port].command("CLUSTER", "MEET", other.host, other.port)

    def _attach_replicas(self, conns: dict[int, RespConnection]) -> None:
        masters = [node for node in self._nodes if node.role == "master"]
        replicas = [node for node in self._nodes if node.role == "replica"]
        for index, replica in enumerate(replicas):
            master = masters[index % len(masters)]
            conns[replica.port].command("CLUSTER", "REPLICATE", master.node_id)

    def _wait_until(
        self,
        deadline: float,
        what: str,
        predicate: Callable[[dict[int, RespConnection]], bool],
        conns: dict[int, RespConnection],
    ) -> None:
        while not predicate(conns):
            self._check_processes()
            if time.monotonic() > deadline:
                raise ClusterError(self._failure_message(what))
            time.sleep(_POLL_INTERVAL)

    def _check_processes(self) -> None:
        dead = [node for node in self._nodes if not self._is_running(node)]
        if dead:
            names = ", ".join(node.address for node in dead)
            raise ClusterError(self._failure_message(f"nodes to stay up ({names} exited)"))

    def _all_known(self, conns: dict[int, RespConnection]) -> bool:
        expected = {node.node_id for node in self._nodes}
        return all(
            _known_node_ids(conns[node.port].command("CLUSTER", "NODES")) >= expected
            for node in self._nodes
        )

    def _converged(self, conns: dict[int, RespConnection]) -> bool:
        expected = self._expected_slot_map()
        for node in self._nodes:
            info = _parse_info(conns[node.port].command("CLUSTER", "INFO"))
            if info.get("cluster_state") != "ok":
                return False
            if info.get("cluster_known_nodes") != str(len(self._nodes)):
                return False
            if _slot_map(conns[node.port].command("CLUSTER", "SLOTS")) != expected:
                return False
        return True

    def _expected_slot_map(self) -> SlotMap:
        masters = [node for node in self._nodes if node.role == "master"]
        replicas = [node for node in self._nodes if node.role == "replica"]
        followers: dict[int, set[str]] = {index: set() for index in range(len(masters))}
        for index, replica in enumerate(replicas):
            followers[index % len(masters)].add(replica.node_id)
        ranges = slot_ranges(len(masters))
        return sorted(
            (first, last, master.node_id, frozenset(followers[index]))
            for index, (master, (first, last)) in enumerate(zip(masters, ranges, strict=True))
        )
