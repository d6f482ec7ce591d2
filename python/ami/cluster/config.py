"""Server configuration: validating options and rendering each node's ``server.conf``."""

from __future__ import annotations

from dataclasses import dataclass

from .node import _Node

_EMPTY_CONFIG_VALUE = '""'


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


def render_config(
    node: _Node,
    *,
    host: str,
    node_timeout_ms: int,
    cluster: bool,
    tls: TlsFiles | None,
    password: str | None,
    extra_config: dict[str, str],
) -> str:
    """Render the ``server.conf`` of ``node``; see :class:`ami.cluster.LocalCluster`."""
    options = {
        "port": str(node.port),
        "bind": host,
        "protected-mode": "no",
        "daemonize": "no",
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "cluster-node-timeout": str(node_timeout_ms),
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
    if not cluster:
        for key in ("cluster-enabled", "cluster-config-file", "cluster-node-timeout"):
            del options[key]
    if tls is not None:
        options.update(tls.server_config(node.port))
    if password is not None:
        options["requirepass"] = _quote(password)
        options["masterauth"] = _quote(password)
    options.update(extra_config)
    return "".join(f"{key} {value or _EMPTY_CONFIG_VALUE}\n" for key, value in options.items())


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
