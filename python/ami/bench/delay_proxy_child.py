"""The delay proxy's own process: see `ami.bench.delay_proxy`, which starts it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import selectors
import sys
from collections import deque

HOST = "127.0.0.1"
READ_SIZE = 1 << 20
# A receiver that stops reading makes the proxy stop reading too, once this much waits
# for it in one direction; the delay itself never needs that much on loopback.
HOLD_LIMIT = 64 << 20


class _Delay:
    """The one-way delay in seconds, shared by every connection of the process."""

    def __init__(self, rtt_ms: float) -> None:
        self.one_way = rtt_ms / 2000


class _Direction:
    """Bytes going one way through one connection, each chunk held until it is due."""

    def __init__(self, delay: _Delay) -> None:
        self._delay = delay
        self._chunks: deque[tuple[float, bytes]] = deque()
        self._held = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def read(self, source: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while data := await source.read(READ_SIZE):
            self._chunks.append((loop.time() + self._delay.one_way, data))
            self._held += len(data)
            self._arrived.set()
            if self._held > HOLD_LIMIT:
                self._room.clear()
                await self._room.wait()

    async def write(self, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._chunks:
                self._arrived.clear()
                await self._arrived.wait()
            wait = self._chunks[0][0] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            now = loop.time()
            due = []
            while self._chunks and self._chunks[0][0] <= now:
                due.append(self._chunks.popleft()[1])
            if not due:
                continue
            data = b"".join(due)
            self._held -= len(data)
            self._room.set()
            sink.write(data)
            await sink.drain()


async def _forward(
    delay: _Delay,
    target: int,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
) -> None:
    await asyncio.sleep(2 * delay.one_way)
    try:
        server_reader, server_writer = await asyncio.open_connection(HOST, target, limit=READ_SIZE)
    except OSError:
        client_writer.close()
        return
    upstream, downstream = _Direction(delay), _Direction(delay)
    pumps = [
        asyncio.ensure_future(upstream.read(client_reader)),
        asyncio.ensure_future(upstream.write(server_writer)),
        asyncio.ensure_future(downstream.read(server_reader)),
        asyncio.ensure_future(downstream.write(client_writer)),
    ]
    # Either side closing (or failing) ends the connection: the bytes still held die
    # with it, as they would on a cut link.
    try:
        await asyncio.wait([pumps[0], pumps[2]], return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(delay.one_way)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for writer in (client_writer, server_writer):
            writer.close()


async def _serve(rtt_ms: float, targets: list[int]) -> None:
    loop = asyncio.get_running_loop()
    delay = _Delay(rtt_ms)
    listening: dict[str, int] = {}
    servers = []
    for target in targets:

        async def accepted(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int = target
        ) -> None:
            await _forward(delay, target, reader, writer)

        server = await asyncio.start_server(accepted, HOST, 0, limit=READ_SIZE)
        servers.append(server)
        listening[str(target)] = server.sockets[0].getsockname()[1]
    print(json.dumps(listening), flush=True)
    control = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(control), sys.stdin)
    while line := await control.readline():
        words = line.split()
        if len(words) == 2 and words[0] == b"rtt":
            delay.one_way = float(words[1]) / 2000
            print("ok", flush=True)
        else:
            print(f"unknown command {line!r}", flush=True)
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    """Serves until terminated or until stdin closes."""
    parser = argparse.ArgumentParser(description="a TCP proxy adding a fixed delay")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="round trip to add")
    parser.add_argument("targets", type=int, nargs="+", help="node ports on 127.0.0.1")
    args = parser.parse_args(argv)
    # select() waits to the microsecond; epoll rounds every wait up to a whole
    # millisecond, which would add about 1 ms to each direction.
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(_serve(args.rtt_ms, args.targets))
    loop.close()


if __name__ == "__main__":
    main()
