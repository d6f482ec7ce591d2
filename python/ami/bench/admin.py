"""Queue names, server facts and clean-up, through a redis-py cluster client."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ami import _ami
from ami.bench.config import SHARDS
from ami.exceptions import ConfigError

if TYPE_CHECKING:
    from typing import Self


def fresh_queue(prefix: str) -> str:
    """A queue name no earlier run used.

    Args:
        prefix: Readable part of the name, e.g. ``"rp"`` for redis-py runs.

    Returns:
        The name.
    """
    return f"bench_{prefix}_{uuid.uuid4().hex[:10]}"


def stream_names(queue: str, shards: int = SHARDS) -> list[str]:
    """The shard streams of `queue`, as the wire format names them.

    Args:
        queue: Queue name.
        shards: Number of shards.

    Returns:
        ``qu{i}_QUEUE`` for i in 0..shards-1.
    """
    return [_ami.stream_name(queue, i) for i in range(shards)]


def group_name(queue: str) -> str:
    """The consumer group of `queue`: ``qu_QUEUE_group``."""
    return _ami.group_name(queue)


def import_redis_cluster() -> Any:
    """The ``redis.cluster`` module, or a clear error when redis-py is missing.

    Raises:
        ConfigError: redis-py is not installed.
    """
    try:
        import redis.cluster
    except ImportError:
        raise ConfigError(
            "the benchmark compares against redis-py: pip install 'redis>=5'"
        ) from None
    return redis.cluster


class Admin:
    """A redis-py cluster client for set-up and clean-up around the measurements.

    redis-py is only partly annotated, so its objects stay `Any` behind these methods.

    Args:
        nodes: Seed nodes ``"host:port"``.
    """

    def __init__(self, nodes: list[str]) -> None:
        cluster = import_redis_cluster()
        startup = [cluster.ClusterNode(*node.rsplit(":", 1)) for node in nodes]
        self.client: Any = cluster.RedisCluster(startup_nodes=startup, decode_responses=False)

    def node_connection(self, key: str) -> Any:
        """The plain `redis.Redis` of the master owning `key`, for single-node pipelines."""
        node = self.client.get_node_from_key(key)
        return self.client.get_redis_connection(node)

    def masters(self) -> list[str]:
        """Addresses ``host:port`` of the masters."""
        return [f"{node.host}:{node.port}" for node in self.client.get_primaries()]

    def server_info(self) -> dict[str, str]:
        """Name and version of the server, as the first master reports them."""
        node = self.client.get_primaries()[0]
        info = self.client.get_redis_connection(node).info("server")
        if "valkey_version" in info:
            return {"name": "valkey", "version": str(info["valkey_version"])}
        return {"name": "redis", "version": str(info.get("redis_version", "?"))}

    def create_group(self, queue: str) -> None:
        """Creates the group of `queue` on every shard, as ami's producer does."""
        for stream in stream_names(queue):
            self.client.xgroup_create(stream, group_name(queue), id="$", mkstream=True)

    def delete_queue(self, queue: str) -> None:
        """Deletes the shard streams of `queue` (with its group) and its other keys."""
        for stream in stream_names(queue):
            self.client.delete(stream)
        # Queue metadata such as the recorded shard count (``qu_NAME_shards``).
        self.delete_matching(f"qu_{queue}_*")

    def delete_matching(self, pattern: str) -> int:
        """Deletes the keys matching `pattern` on every master; returns how many."""
        deleted = 0
        for node in self.client.get_primaries():
            connection = self.client.get_redis_connection(node)
            for key in connection.scan_iter(match=pattern, count=1000):
                deleted += connection.delete(key)
        return deleted

    def close(self) -> None:
        """Closes every connection."""
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
