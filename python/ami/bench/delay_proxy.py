"""A TCP proxy that puts every node of a local cluster at a distance, for benchmarks.

:class:`DelayProxy` runs it in a subprocess (``delay_proxy_child``) that listens on one
port per node and forwards each connection to its node, holding every chunk of bytes
for half the round-trip time (RTT) in each direction. A
reader per direction reads whatever has arrived (up to 1 MiB at once) and stamps it with
its due time; a writer per direction sleeps until the oldest chunk is due and writes
every chunk due by then. Bytes keep their order within a connection, and bandwidth is
limited only by the proxy's CPU: nothing waits for anything but its own due time. A
connection to the node opens one RTT after the client's was accepted, standing in for
the TCP handshake the client did not have to wait for.

The delay is fixed: no jitter, no loss. At 0 ms the proxy still costs a hop through an
asyncio process in each direction; the distance benchmark measures that hop on its own.

The subprocess is ``python -m ami.bench.delay_proxy_child --rtt-ms 10 PORT [PORT ...]``:
it prints one JSON line mapping each node port to the port that stands for it, then
serves until it is terminated or its stdin closes. A line ``rtt MS`` on stdin changes
the delay of the bytes read from then on and is answered with ``ok``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import TracebackType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

HOST = "127.0.0.1"
CHILD = "ami.bench.delay_proxy_child"
STOP_TIMEOUT = 5.0


class DelayProxy:
    """Runs the proxy in a subprocess for the nodes at `addresses`.

    Args:
        addresses: Nodes as ``"127.0.0.1:PORT"``.
        rtt: Round-trip time to add, in seconds (half of it each way).

    Attributes:
        ports: Each node address mapped to the proxy port that stands for it.
    """

    def __init__(self, addresses: list[str], rtt: float = 0.0) -> None:
        self.addresses = list(addresses)
        self.rtt = rtt
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        """Starts the subprocess and waits until it listens.

        Raises:
            RuntimeError: The proxy did not start.
        """
        targets = [address.rsplit(":", 1)[1] for address in self.addresses]
        command = [sys.executable, "-m", CHILD, "--rtt-ms", str(self.rtt * 1000), *targets]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        line = self._reply()
        try:
            listening = json.loads(line)
        except ValueError:
            self.stop()
            raise RuntimeError(f"the delay proxy did not start: {line!r}") from None
        self.ports = {
            address: int(listening[target])
            for address, target in zip(self.addresses, targets, strict=True)
        }
        return self

    def set_rtt(self, rtt: float) -> None:
        """Changes the delay of every byte read from now on.

        Args:
            rtt: Round-trip time to add, in seconds.

        Raises:
            RuntimeError: The proxy is not running or did not answer.
        """
        stdin = self._pipe().stdin
        assert stdin is not None
        stdin.write(f"rtt {rtt * 1000}\n")
        stdin.flush()
        if self._reply() != "ok":
            raise RuntimeError("the delay proxy did not take the new delay")
        self.rtt = rtt

    @property
    def seeds(self) -> list[str]:
        """The proxy's addresses, one per node."""
        return [f"{HOST}:{port}" for port in self.ports.values()]

    def stop(self) -> None:
        """Stops the subprocess by its pid; safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def _pipe(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the delay proxy is not running")
        return self._process

    def _reply(self) -> str:
        stdout: IO[str] | None = self._pipe().stdout
        assert stdout is not None
        return stdout.readline().strip()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
