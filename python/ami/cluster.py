"""Launch a throwaway local Redis Cluster for development, tests, demos and benchmarks.

Works with ``redis-server`` (7.0+) and ``valkey-server`` (8.x). The cluster is formed
without ``redis-cli``: slots are assigned with ``CLUSTER ADDSLOTSRANGE`` (``ADDSLOTS`` on
older servers), nodes are joined with ``CLUSTER MEET`` and replicas attached with
``CLUSTER REPLICATE``.

This module holds :class:`LocalCluster`, which orchestrates the steps implemented in
``ami._local_cluster``, and re-exports the names other code imports from ``ami.cluster``.

Example:
    >>> with LocalCluster(masters=3, replicas=3) as cluster:
    ...     print(cluster.seed)
"""

from __future__ import annotations

import shutil
import signal
import time
from typing import TYPE_CHECKING, Any

from ami.exceptions import ClusterError

from ._local_cluster.binary import SERVER_NAMES as SERVER_NAMES
from ._local_cluster.binary import _embedded_candidates as _embedded_candidates
from ._local_cluster.binary import embedded_server_binary as embedded_server_binary
from ._local_cluster.binary import find_server_binary as find_server_binary
from ._local_cluster.config import _EMPTY_CONFIG_VALUE as _EMPTY_CONFIG_VALUE
from ._local_cluster.config import TlsFiles as TlsFiles
from ._local_cluster.config import _quote as _quote
from ._local_cluster.config import _validate as _validate
from ._local_cluster.forming import _ClusterForming
from ._local_cluster.launch import _SPAWN_ATTEMPTS as _SPAWN_ATTEMPTS
from ._local_cluster.node import _CONNECT_TIMEOUT as _CONNECT_TIMEOUT
from ._local_cluster.node import _LOG_TAIL_LINES as _LOG_TAIL_LINES
from ._local_cluster.node import _POLL_INTERVAL as _POLL_INTERVAL
from ._local_cluster.node import _STOP_TIMEOUT as _STOP_TIMEOUT
from ._local_cluster.node import NodeStatus as NodeStatus
from ._local_cluster.node import _Node as _Node
from ._local_cluster.node import _tail as _tail
from ._local_cluster.node import log as log
from ._local_cluster.ports import BUS_PORT_OFFSET as BUS_PORT_OFFSET
from ._local_cluster.ports import _port_free as _port_free
from ._local_cluster.ports import pick_ports as pick_ports
from ._local_cluster.processes import _PR_SET_PDEATHSIG as _PR_SET_PDEATHSIG
from ._local_cluster.processes import _detached_processes as _detached_processes
from ._local_cluster.processes import _live_clusters as _live_clusters
from ._local_cluster.processes import _parent_death_hook as _parent_death_hook
from ._local_cluster.processes import _pid_alive as _pid_alive
from ._local_cluster.processes import _pid_exists as _pid_exists
from ._local_cluster.processes import _process_cmdline as _process_cmdline
from ._local_cluster.processes import _ps_command as _ps_command
from ._local_cluster.processes import _stop_live_clusters as _stop_live_clusters
from ._local_cluster.processes import is_server_process as is_server_process
from ._local_cluster.replies import _known_node_ids as _known_node_ids
from ._local_cluster.replies import _parse_info as _parse_info
from ._local_cluster.replies import _query_role_and_state as _query_role_and_state
from ._local_cluster.replies import _server_identity as _server_identity
from ._local_cluster.replies import _text as _text
from ._local_cluster.slots import _ADDSLOTS_CHUNK as _ADDSLOTS_CHUNK
from ._local_cluster.slots import TOTAL_SLOTS as TOTAL_SLOTS
from ._local_cluster.slots import SlotMap as SlotMap
from ._local_cluster.slots import _add_slots as _add_slots
from ._local_cluster.slots import _entry_node_id as _entry_node_id
from ._local_cluster.slots import _slot_map as _slot_map
from ._local_cluster.slots import slot_ranges as slot_ranges
from ._local_cluster.state import DATA_DIR_PREFIX as DATA_DIR_PREFIX
from ._local_cluster.state import STATE_VERSION as STATE_VERSION
from ._local_cluster.state import _node_from_dict as _node_from_dict
from ._local_cluster.state import _node_to_dict as _node_to_dict
from ._local_cluster.state import cluster_from_state, state_to_dict
from ._resp import RespError

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "ClusterError",
    "LocalCluster",
    "NodeStatus",
    "embedded_server_binary",
    "find_server_binary",
]


class LocalCluster(_ClusterForming):
    """A Redis Cluster of local server processes listening on 127.0.0.1.

    Args:
        masters: Number of masters; the 16384 slots are split evenly between them.
        replicas: Total number of replicas; replica ``j`` follows master ``j % masters``.
        server: Path of ``redis-server``/``valkey-server``; default :func:`find_server_binary`.
        host: Address to bind and announce; keep the loopback default.
        node_timeout_ms: ``cluster-node-timeout``; lower means faster failure detection.
        extra_config: Additional server config; each value is written verbatim after its
            key like a ``redis.conf`` line (``{"save": "900 1"}``); ``""`` becomes ``""``.
        data_dir: Directory for per-node working dirs; default a fresh temporary directory
            that :meth:`stop` removes (a directory passed here is kept).
        startup_timeout: Seconds allowed for starting the processes and forming the cluster.
        detach: Keep the servers running after this Python process exits (used by
            ``python -m ami cluster up``); stop them later via :meth:`from_dict`.
        password: ``requirepass`` (and ``masterauth``) of every node.
        cluster: False starts one standalone server (``masters=1, replicas=0``) instead.
        tls: Serve TLS only (``port 0``, ``tls-cluster yes``, ``tls-replication yes``) with
            these certificates; client certificates are not required.

    Raises:
        ValueError: On invalid sizes, timeouts or config values.

    Attributes:
        nodes: Master addresses ``"127.0.0.1:PORT"``, in slot order.
        all_nodes: Masters followed by replicas.
        server_version: The server's own version (``valkey_version`` for Valkey).
        server_name: ``"redis"`` or ``"valkey"``.
        data_dir: Directory holding one ``node-PORT`` working dir per node.
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 0,
        server: str | None = None,
        host: str = "127.0.0.1",
        node_timeout_ms: int = 2000,
        extra_config: dict[str, str] | None = None,
        data_dir: str | None = None,
        startup_timeout: float = 30.0,
        detach: bool = False,
        password: str | None = None,
        cluster: bool = True,
        tls: TlsFiles | None = None,
    ) -> None:
        _validate(masters, replicas, node_timeout_ms, startup_timeout, extra_config or {})
        if not cluster and (masters, replicas) != (1, 0):
            raise ValueError("a standalone server (cluster=False) has 1 master and no replicas")
        self.masters = masters
        self.replicas = replicas
        self.password = password
        self.cluster = cluster
        self.tls = tls
        self.server = server
        self.host = host
        self.node_timeout_ms = node_timeout_ms
        self.extra_config = dict(extra_config or {})
        self.startup_timeout = startup_timeout
        self.detach = detach
        self.data_dir = data_dir
        self._data_dir_arg = data_dir
        self.server_version = ""
        self.server_name = ""
        self._owns_data_dir = False
        self._nodes = []
        self._started = False
        self._preexec = None

    # ----------------------------------------------------------------- public API

    @property
    def nodes(self) -> list[str]:
        """Master addresses, in slot order."""
        return [node.address for node in self._nodes if node.role == "master"]

    @property
    def all_nodes(self) -> list[str]:
        """All node addresses: masters first, then replicas."""
        return self.nodes + self.replica_nodes

    @property
    def replica_nodes(self) -> list[str]:
        """Replica addresses, in creation order."""
        return [node.address for node in self._nodes if node.role == "replica"]

    @property
    def seed(self) -> str:
        """The first master's address, a convenient seed for cluster clients.

        Raises:
            ClusterError: If the cluster has not been started.
        """
        if not self._nodes:
            raise ClusterError("cluster is not started")
        return self.nodes[0]

    @property
    def pids(self) -> list[int]:
        """Server process ids, in the order of :attr:`all_nodes`."""
        return [self._node(address).pid for address in self.all_nodes]

    @property
    def started(self) -> bool:
        """Whether :meth:`start` succeeded and :meth:`stop` has not been called since."""
        return self._started

    def start(self) -> LocalCluster:
        """Start the server processes and form the cluster.

        Returns:
            ``self``, so ``cluster = LocalCluster().start()`` works.

        Raises:
            ClusterError: If already started, no server binary is found, or the cluster
                does not become healthy within ``startup_timeout`` (the message includes
                the tail of the node logs). Anything already started is stopped.
        """
        if self._started:
            raise ClusterError("cluster is already started")
        self.server = self.server or find_server_binary()
        self._started = True
        if not self.detach:
            _live_clusters.add(self)
        try:
            self._prepare_data_dir()
            self._preexec = None if self.detach else _parent_death_hook()
            deadline = time.monotonic() + self.startup_timeout
            self._launch_nodes(deadline)
            if self.cluster:
                self._form_cluster(deadline)
            else:
                self._identify()
            if self.detach:
                _detached_processes.extend(node.proc for node in self._nodes if node.proc)
        except BaseException as exc:
            message = self._failure_message(exc) if isinstance(exc, (OSError, RespError)) else ""
            self.stop()
            if message:
                raise ClusterError(message) from exc
            raise
        return self

    def stop(self) -> None:
        """Stop every server this cluster started and clean up; safe to call twice.

        Sends SIGTERM, waits up to 5 s, then SIGKILLs what is left. Only the recorded pids
        are signalled; for clusters loaded with :meth:`from_dict` each pid is first checked
        to still be a redis/valkey server on the recorded port. Removes the data directory
        if it was created by the cluster.
        """
        if not self._started:
            return
        _live_clusters.discard(self)
        self._signal_all(signal.SIGTERM)
        if not self._wait_all_exited(_STOP_TIMEOUT):
            self._signal_all(signal.SIGKILL)
            self._wait_all_exited(_STOP_TIMEOUT)
        if self._owns_data_dir and self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self._started = False

    def __enter__(self) -> Self:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "started" if self._started else "stopped"
        return (
            f"LocalCluster(masters={self.masters}, replicas={self.replicas}, "
            f"seed={self.nodes[0] if self._nodes else None!r}, {state})"
        )

    def node_pid(self, address: str) -> int:
        """Return the process id of the node at ``address``.

        Args:
            address: ``host:port`` as listed in :attr:`all_nodes`.

        Returns:
            The server's pid.

        Raises:
            ClusterError: If ``address`` is not a node of this cluster.
        """
        return self._node(address).pid

    def kill_node(self, address: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one node, e.g. to test failover; waits for exit on SIGKILL.

        Args:
            address: ``host:port`` as listed in :attr:`all_nodes`.
            sig: Signal to send (``SIGSTOP`` simulates a hung node).

        Raises:
            ClusterError: If ``address`` is not a node of this cluster.
        """
        node = self._node(address)
        self._signal(node, sig)
        if sig == signal.SIGKILL:
            self._wait_exited([node], _STOP_TIMEOUT)

    def status(self) -> list[NodeStatus]:
        """Query every node for its liveness, role and cluster state.

        Returns:
            One :class:`NodeStatus` per node, in the order of :attr:`all_nodes`.
        """
        return [self._node_status(self._node(address)) for address in self.all_nodes]

    def to_dict(self) -> dict[str, Any]:
        """Serialize enough state to find and stop the servers from another process.

        Returns:
            A JSON-compatible dict; see :meth:`from_dict`.
        """
        return state_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalCluster:
        """Rebuild a started cluster from :meth:`to_dict` output (e.g. a CLI state file).

        The returned cluster is not stopped at interpreter exit; call :meth:`stop`.

        Args:
            data: A dict produced by :meth:`to_dict`.

        Returns:
            A cluster whose :meth:`stop`, :meth:`status` and :meth:`kill_node` act on the
            recorded processes.

        Raises:
            ClusterError: If ``data`` is not a valid cluster state.
        """
        return cluster_from_state(cls, data)
