"""A fault-injecting TCP proxy in front of every node of a local cluster.

Each node announces its proxy's port (``cluster-announce-port``) from its start, so
every client connection, redirects and direct reads included, crosses the proxy. (Set
later, with CONFIG SET, Redis 6.2 tells its peers but keeps its own port in its own
CLUSTER SLOTS.) Per node, the proxy
can stall (stop forwarding without closing anything: a half-dead host) and resume, and
it can cut a connection right after the server sent a chosen reply (a reply lost on the
wire, after the server acted on the command).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from conftest import SERVER

from ami.cluster import LocalCluster
from ami.cluster.node import _Node
from faults.chaos import command

CHUNK = 1 << 16


class NodeProxy:
    """Forwards one listening port to one node."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.cut_after: bytes | None = None
        self.cuts = 0
        # Requests that arrived during a stall and wait to be forwarded.
        self.held: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            client_writer.close()
            return
        ends = (client_writer, server_writer)
        # Cancelled when the proxy shuts down: that ends the connection, not an error.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pump(client_reader, server_writer, ends, replies=False),
                self._pump(server_reader, client_writer, ends, replies=True),
                return_exceptions=True,
            )
        for end in ends:
            end.close()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        ends: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        replies: bool,
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                if not replies and not self.flowing.is_set():
                    self.held.append(data)
                await self.flowing.wait()
                if replies and self.cut_after is not None and self.cut_after in data:
                    self.cut_after = None
                    self.cuts += 1
                    break
                sink.write(data)
                await sink.drain()
        finally:
            for end in ends:
                end.close()


class ClusterProxy:
    """Proxies for every node of a cluster, run on an event loop of their own."""

    def __init__(self) -> None:
        self.cluster: LocalCluster | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nodes: dict[str, NodeProxy] = {}

    def add(self, target_port: int) -> int:
        """Starts a proxy for the node on `target_port`; returns the port it listens on."""
        proxy = NodeProxy(target_port)
        self._call(proxy.start())
        self.nodes[f"127.0.0.1:{target_port}"] = proxy
        return proxy.port

    @property
    def seeds(self) -> list[str]:
        return [f"127.0.0.1:{proxy.port}" for proxy in self.nodes.values()]

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)  # type: ignore[arg-type]

    def attach(self, cluster: LocalCluster) -> None:
        """Keeps the proxies of the nodes `cluster` runs (a node respawned on other ports
        left one behind), and waits until every node announces only proxies."""
        self.cluster = cluster
        self.nodes = {address: self.nodes[address] for address in cluster.nodes}
        wanted = {proxy.port for proxy in self.nodes.values()}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = [
                {int(shard[2][1]) for shard in command(address, "CLUSTER", "SLOTS")}
                for address in self.nodes
            ]
            if all(ports == wanted for ports in seen):
                return
            time.sleep(0.1)
        raise AssertionError("the nodes did not announce their proxies in time")

    def holder(self, stream: str) -> str:
        """The real address of the master holding `stream`."""
        assert self.cluster is not None
        seed = self.cluster.nodes[0]
        slot = int(command(seed, "CLUSTER", "KEYSLOT", stream))
        for start, end, (_, port, *_rest), *_ in command(seed, "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(
                    address for address, proxy in self.nodes.items() if proxy.port == int(port)
                )
        raise AssertionError(f"no master holds slot {slot}")

    def stall(self, address: str) -> None:
        """Stops forwarding to and from `address`; in force when this returns."""
        self._call(_run(self.nodes[address].flowing.clear))

    def resume(self, address: str) -> None:
        self._call(_run(self.nodes[address].flowing.set))

    def holds(self, address: str, request: bytes) -> bool:
        """True when a request containing `request` waits at the stalled `address`."""
        return any(request in data for data in self.nodes[address].held)

    def cut_after_reply(self, address: str, containing: bytes) -> None:
        """Closes the connection that next receives a reply containing `containing`,
        without passing that reply on."""
        self.nodes[address].cut_after = containing

    def close(self) -> None:
        self._call(self._shut_down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _shut_down(self) -> None:
        for proxy in self.nodes.values():
            proxy.flowing.set()
            if proxy.server is not None:
                proxy.server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # One more turn of the loop lets the closed transports release their sockets.
        await asyncio.sleep(0.05)


async def _run(action: Callable[[], None]) -> None:
    action()


class _AnnouncingCluster(LocalCluster):
    """A `LocalCluster` whose nodes announce the ports of their proxies."""

    def __init__(self, proxy: ClusterProxy, **options: Any) -> None:
        super().__init__(**options)
        self._proxy = proxy

    def _render_config(self, node: _Node) -> str:
        announced = self._proxy.add(node.port)
        return super()._render_config(node) + (
            f"cluster-announce-port {announced}\ncluster-announce-bus-port {node.port + 10_000}\n"
        )


@contextlib.contextmanager
def proxied_cluster(masters: int = 3) -> Iterator[ClusterProxy]:
    """A local cluster whose every client connection crosses a `ClusterProxy`."""
    proxy = ClusterProxy()
    try:
        with _AnnouncingCluster(proxy, masters=masters, server=SERVER) as cluster:
            proxy.attach(cluster)
            yield proxy
    finally:
        proxy.close()
