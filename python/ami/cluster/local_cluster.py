""":class:`LocalCluster`: start, inspect and stop a local cluster, and record it for later.

The steps live in its bases: :class:`~ami.cluster.launch._NodeProcesses` runs the server
processes, :class:`~ami.cluster.forming._ClusterForming` joins them into a cluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from typing import TYPE_CHECKING, Any

from ami.exceptions import ClusterError

from .binary import find_server_binary
from .config import TlsFiles, _validate
from .forming import _ClusterForming
from .launch import DATA_DIR_PREFIX
from .node import _STOP_TIMEOUT, NodeStatus, _Node
from .processes import _detached_processes, _live_clusters, _parent_death_hook
from .resp import RespError

if TYPE_CHECKING:
    from typing import Self

STATE_VERSION = 1


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
        return {
            "version": STATE_VERSION,
            "server": self.server,
            "server_name": self.server_name,
            "server_version": self.server_version,
            "host": self.host,
            "masters": self.masters,
            "replicas": self.replicas,
            "node_timeout_ms": self.node_timeout_ms,
            "data_dir": self.data_dir,
            "owns_data_dir": self._owns_data_dir,
            "seed": self.nodes[0] if self._nodes else None,
            "nodes": [node.to_dict() for node in self._nodes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
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
        try:
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported state version {data.get('version')!r}")
            cluster = cls(
                masters=int(data["masters"]),
                replicas=int(data["replicas"]),
                server=data.get("server"),
                host=str(data["host"]),
                node_timeout_ms=int(data.get("node_timeout_ms", 2000)),
                data_dir=data.get("data_dir"),
                detach=True,
            )
            cluster._nodes = [_Node.from_dict(item, cluster.host) for item in data["nodes"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClusterError(f"invalid cluster state: {exc}") from exc
        cluster.server_name = str(data.get("server_name", ""))
        cluster.server_version = str(data.get("server_version", ""))
        # Never trust a state file to point rmtree at something we did not create.
        cluster._owns_data_dir = bool(data.get("owns_data_dir")) and os.path.basename(
            str(cluster.data_dir or "")
        ).startswith(DATA_DIR_PREFIX)
        cluster._started = True
        return cluster
