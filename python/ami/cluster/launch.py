"""Running a cluster's server processes: data dir, spawn, readiness, signals, status.

:class:`_NodeProcesses` is the base of :class:`ami.cluster.LocalCluster`; its methods stay
methods (not functions) so subclasses such as the fault tests' ``FixedPortCluster`` can
override or reuse them.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ami.exceptions import ClusterError

from .config import TlsFiles, render_config
from .node import _CONNECT_TIMEOUT, _POLL_INTERVAL, NodeStatus, _Node, _tail, log
from .ports import pick_ports
from .processes import _pid_alive, is_server_process
from .replies import _query_role_and_state
from .resp import RespError, connect

_SPAWN_ATTEMPTS = 3
# Names the temporary data dirs the launcher creates and so may remove.
DATA_DIR_PREFIX = "ami-cluster-"


class _NodeProcesses:
    # Set by LocalCluster.__init__; see its docstring.
    masters: int
    replicas: int
    password: str | None
    cluster: bool
    tls: TlsFiles | None
    server: str | None
    host: str
    node_timeout_ms: int
    extra_config: dict[str, str]
    startup_timeout: float
    data_dir: str | None
    _data_dir_arg: str | None
    _owns_data_dir: bool
    _nodes: list[_Node]
    _preexec: Callable[[], None] | None

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
        return render_config(
            node,
            host=self.host,
            node_timeout_ms=self.node_timeout_ms,
            cluster=self.cluster,
            tls=self.tls,
            password=self.password,
            extra_config=self.extra_config,
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        return ssl.create_default_context(cafile=self.tls.ca_file)

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
