"""Launch a throwaway local Redis Cluster for development, tests, demos and benchmarks.

Works with ``redis-server`` (6.2+) and ``valkey-server`` (8.x). The cluster is formed
without ``redis-cli``: slots are assigned with ``CLUSTER ADDSLOTSRANGE`` (``ADDSLOTS`` on
older servers), nodes are joined with ``CLUSTER MEET`` and replicas attached with
``CLUSTER REPLICATE``.

The names below are the public ones. Each module behind them has one job:
``local_cluster`` (:class:`LocalCluster`), ``forming`` (slots, MEET, replicas),
``launch`` (server processes), ``processes`` (pids, cleanup at exit), ``announce``
(nodes announcing a proxy's ports for a while), ``config``,
``ports``, ``slots``, ``replies``, ``node``, ``binary``, and ``resp``, the minimal RESP
client the launcher uses to talk to servers before they form a cluster.

Example:
    >>> with LocalCluster(masters=3, replicas=3) as cluster:
    ...     print(cluster.seed)
"""

from ami.exceptions import ClusterError

from .binary import SERVER_NAMES, embedded_server_binary, find_server_binary
from .config import TlsFiles
from .local_cluster import LocalCluster
from .node import NodeStatus
from .ports import pick_ports
from .slots import slot_ranges

__all__ = [
    "SERVER_NAMES",
    "ClusterError",
    "LocalCluster",
    "NodeStatus",
    "TlsFiles",
    "embedded_server_binary",
    "find_server_binary",
    "pick_ports",
    "slot_ranges",
]
