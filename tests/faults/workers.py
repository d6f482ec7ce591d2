"""Producer and consumer child processes for the fault scenarios, and their handles.

A worker runs as ``python -m faults.workers producer|consumer SPEC.json`` (from
``tests/``). It records what it did in the run directory (see `faults.checker`) and
publishes a status file (``NAME.status``, JSON, replaced atomically) with its counters,
so the test can wait for progress and inject a fault at the right moment. A worker stops
by itself when its work is done or when the run's ``stop`` file appears; otherwise the
test SIGKILLs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import ami
from faults.checker import (
    CONFIRMED_SUFFIX,
    RECORDS_SUFFIX,
    SENT_SUFFIX,
    AppendFile,
    handle,
    make_body,
)

STOP_FILE = "stop"
# Workers run as ``python -m faults.workers`` from here, so `faults` is importable.
TESTS_DIR = Path(__file__).resolve().parents[1]
STATUS_SUFFIX = ".status"
HELD_SUFFIX = ".held"
HOLD_GATHER = 5.0
STATUS_PERIOD = 0.2


# --------------------------------------------------------------------------- specs


@dataclass
class ProducerSpec:
    """What a producer process does.

    Attributes:
        name: Worker name; prefixes its files.
        queue: Queue name.
        nodes: Seed nodes.
        run_id: Run id put in every body.
        directory: Run directory.
        shards: Shard count.
        first_seq: First sequence number; give each producer its own range.
        count: Messages to send, or None to send until the stop file appears.
        batch: Messages per `send_many` + `flush` (one confirmed range).
        interval: Pause between batches, seconds.
        pad: Extra body bytes.
        poison: Sequence numbers sent as poison messages.
        options: Keyword arguments for `ami.Producer`.
    """

    name: str
    queue: str
    nodes: list[str]
    run_id: str
    directory: str
    shards: int = 10
    first_seq: int = 0
    count: int | None = None
    batch: int = 200
    interval: float = 0.01
    pad: int = 0
    poison: list[int] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConsumerSpec:
    """What a consumer process does.

    Attributes:
        name: Worker name, also its consumer name in the group; prefixes its files.
        queue: Queue name.
        nodes: Seed nodes.
        run_id: Run id of the bodies.
        directory: Run directory.
        shards: Shard count.
        max_messages: Most messages per `consume`.
        hold_after: After handling this many messages, gather `hold_count` more (or
            what comes within `HOLD_GATHER` seconds) and hold them without acking (a
            handler that hangs) until killed. None never holds.
        hold_count: How many messages a holding consumer gathers.
        reject_poison: Never ack poison messages (a handler that always fails on them).
        idle_exit: Once the stop file exists, exit after this long without messages.
        options: Keyword arguments for `ami.Consumer`.
    """

    name: str
    queue: str
    nodes: list[str]
    run_id: str
    directory: str
    shards: int = 10
    max_messages: int = 500
    hold_after: int | None = None
    hold_count: int = 200
    reject_poison: bool = False
    idle_exit: float = 3.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Specs:
    """Builds the specs of one run: the fields every worker of the run shares."""

    queue: str
    nodes: list[str]
    run_id: str
    directory: Path
    shards: int = 10

    def _common(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "queue": self.queue,
            "nodes": list(self.nodes),
            "run_id": self.run_id,
            "directory": str(self.directory),
            "shards": self.shards,
        }

    def producer(self, name: str, **fields: Any) -> ProducerSpec:
        """A producer spec; `fields` override the defaults of `ProducerSpec`."""
        return ProducerSpec(**self._common(name), **fields)

    def consumer(self, name: str, **fields: Any) -> ConsumerSpec:
        """A consumer spec; `fields` override the defaults of `ConsumerSpec`."""
        return ConsumerSpec(**self._common(name), **fields)


# --------------------------------------------------------------------------- status


def rss_kb() -> int:
    """This process's resident set size in KiB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Status:
    """Counters of a worker, published as JSON in ``NAME.status`` every `STATUS_PERIOD`."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / f"{name}{STATUS_SUFFIX}"
        self.values: dict[str, Any] = {"pid": os.getpid(), "ready": False, "done": False}
        self.errors: Counter[str] = Counter()
        self.last_errors: list[str] = []
        self.max_rss_kb = 0
        self._written = 0.0

    def on_error(self, error: ami.AmiError) -> None:
        """`on_error` handler: counts errors by type and code, keeps the last few."""
        code = getattr(error, "code", "") or ""
        self.errors[f"{type(error).__name__}:{code}"] += 1
        self.last_errors = [*self.last_errors[-4:], f"{type(error).__name__}: {error}"]

    def add(self, key: str, amount: int = 1) -> None:
        """Adds to a counter."""
        self.values[key] = self.values.get(key, 0) + amount

    def publish(self, *, force: bool = False, **values: Any) -> None:
        """Writes the status file (at most every `STATUS_PERIOD` unless forced)."""
        self.values.update(values)
        now = time.monotonic()
        if not force and now - self._written < STATUS_PERIOD:
            return
        self._written = now
        rss = rss_kb()
        self.max_rss_kb = max(self.max_rss_kb, rss)
        document = {
            **self.values,
            "rss_kb": rss,
            "max_rss_kb": self.max_rss_kb,
            "errors": dict(self.errors),
            "last_errors": self.last_errors,
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document))
        os.replace(temporary, self.path)


def stop_requested(directory: Path) -> bool:
    """Whether the test asked the workers to finish."""
    return (directory / STOP_FILE).exists()


# --------------------------------------------------------------------------- producer


def confirm(producer: ami.Producer, status: Status) -> bool:
    """Waits until everything sent is written; False if some of it failed."""
    try:
        left = producer.flush(timeout=None)
    except ami.DeliveryError as error:
        status.add("delivery_errors")
        status.add("failed", error.failed)
        return False
    return left == 0


def produce(spec: ProducerSpec) -> None:
    """Sends numbered messages in batches, recording sent and confirmed ranges."""
    directory = Path(spec.directory)
    status = Status(directory, spec.name)
    status.publish(force=True, sent=0, confirmed=0, failed=0, delivery_errors=0)
    producer = ami.Producer(
        spec.queue, nodes=spec.nodes, shards=spec.shards, on_error=status.on_error, **spec.options
    )
    status.publish(force=True, ready=True)
    poison = set(spec.poison)
    end_seq = None if spec.count is None else spec.first_seq + spec.count
    seq = spec.first_seq
    with (
        AppendFile(directory / f"{spec.name}{SENT_SUFFIX}") as sent,
        AppendFile(directory / f"{spec.name}{CONFIRMED_SUFFIX}") as confirmed,
    ):
        while not stop_requested(directory) and (end_seq is None or seq < end_seq):
            end = seq + spec.batch if end_seq is None else min(seq + spec.batch, end_seq)
            sent.append([f"{seq} {end}\n"])
            producer.send_many(
                make_body(spec.run_id, s, poison=s in poison, pad=spec.pad) for s in range(seq, end)
            )
            status.add("sent", end - seq)
            if confirm(producer, status):
                confirmed.append([f"{seq} {end}\n"])
                status.add("confirmed", end - seq)
            seq = end
            status.publish(next_seq=seq, stats=producer.stats())
            time.sleep(spec.interval)
    close_producer(producer, status)


def close_producer(producer: ami.Producer, status: Status) -> None:
    """Closes the producer and publishes the final status."""
    try:
        producer.close()
    except ami.DeliveryError as error:
        status.add("delivery_errors")
        status.add("failed", error.failed)
    status.publish(force=True, done=True, stats=producer.stats())


# --------------------------------------------------------------------------- consumer


def hold_forever(
    consumer: ami.Consumer, batch: list[ami.Message], spec: ConsumerSpec, status: Status
) -> NoReturn:
    """Gathers up to `hold_count` messages, records them (``NAME.held``) and hangs,
    never acking them."""
    deadline = time.monotonic() + HOLD_GATHER
    while len(batch) < spec.hold_count and time.monotonic() < deadline:
        batch += consumer.consume(spec.hold_count - len(batch), timeout=0.2)
    with AppendFile(Path(spec.directory) / f"{spec.name}{HELD_SUFFIX}") as held:
        held.append(f"{m.body.decode()} {m.id}\n" for m in batch)
    status.publish(force=True, holding=len(batch))
    while True:
        time.sleep(1.0)


def should_hold(spec: ConsumerSpec, status: Status) -> bool:
    """Whether the consumer handled enough to start hanging on its next batch."""
    return spec.hold_after is not None and status.values["handled"] >= spec.hold_after


def consume(spec: ConsumerSpec) -> None:
    """Handles messages (record, then ack) until stopped and idle, or holds a batch."""
    directory = Path(spec.directory)
    status = Status(directory, spec.name)
    status.publish(force=True, received=0, handled=0, holding=0)
    consumer = ami.Consumer(
        spec.queue,
        consumer=spec.name,
        nodes=spec.nodes,
        shards=spec.shards,
        on_error=status.on_error,
        **spec.options,
    )
    status.publish(force=True, ready=True)
    idle_since: float | None = None
    with AppendFile(directory / f"{spec.name}{RECORDS_SUFFIX}") as records:
        while True:
            batch = consumer.consume(spec.max_messages, timeout=0.5)
            if batch and should_hold(spec, status):
                hold_forever(consumer, batch, spec, status)
            status.add("received", len(batch))
            status.add("handled", handle(consumer, batch, records, spec.run_id, spec.reject_poison))
            status.publish(stats=consumer.stats())
            if batch or not stop_requested(directory):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > spec.idle_exit:
                break
    consumer.close(timeout=30.0)
    status.publish(force=True, done=True, stats=consumer.stats())


# --------------------------------------------------------------------------- handles


class WorkerProcess:
    """A running worker: its process, its spec and its status."""

    def __init__(self, role: str, spec: ProducerSpec | ConsumerSpec) -> None:
        self.role = role
        self.spec = spec
        self.directory = Path(spec.directory)
        self.log_path = self.directory / f"{spec.name}.log"
        self.killed = False
        spec_path = self.directory / f"{spec.name}.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faults.workers", role, str(spec_path)],
                cwd=TESTS_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def name(self) -> str:
        """The worker's name."""
        return self.spec.name

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def status(self) -> dict[str, Any]:
        """The last published status (empty before the first)."""
        try:
            return dict(json.loads((self.directory / f"{self.name}{STATUS_SUFFIX}").read_text()))
        except (FileNotFoundError, ValueError):
            return {}

    def value(self, key: str) -> int:
        """One counter of the status (0 if not published yet)."""
        return int(self.status().get(key, 0))

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def crashed(self) -> bool:
        """Whether the process exited with an error without being killed by the test."""
        return not self.killed and self.process.poll() not in (None, 0)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signals the process (by its pid) and, for SIGKILL, reaps it."""
        self.killed = self.killed or sig == signal.SIGKILL
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        """Waits for the process to exit by itself; returns its exit code."""
        return self.process.wait(timeout=timeout)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the worker's output, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def describe(self) -> str:
        """A summary for failure messages: exit code, status and log tail."""
        code = self.process.poll()
        return f"--- {self.role} {self.name} exit={code} status={self.status()}\n{self.log_tail()}"


class Fleet:
    """The workers of one scenario; `shutdown` kills whatever still runs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.workers: list[WorkerProcess] = []

    def producer(self, spec: ProducerSpec) -> WorkerProcess:
        """Starts a producer process."""
        return self._start("producer", spec)

    def consumer(self, spec: ConsumerSpec) -> WorkerProcess:
        """Starts a consumer process."""
        return self._start("consumer", spec)

    def _start(self, role: str, spec: ProducerSpec | ConsumerSpec) -> WorkerProcess:
        worker = WorkerProcess(role, spec)
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        """Asks every worker to finish its work and exit."""
        (self.directory / STOP_FILE).touch()

    def wait_all(self, timeout: float) -> dict[str, int]:
        """Waits for every live worker to exit; returns exit codes by name."""
        deadline = time.monotonic() + timeout
        codes = {}
        for worker in self.workers:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                codes[worker.name] = worker.wait(left)
            except subprocess.TimeoutExpired:
                codes[worker.name] = -999
        return codes

    def finish(self, survivors: list[WorkerProcess], timeout: float = 90.0) -> None:
        """Asks the workers to stop, prints their summary and checks that every one of
        `survivors` exited cleanly.

        Raises:
            AssertionError: A survivor failed or did not exit within `timeout`.
        """
        self.stop()
        codes = self.wait_all(timeout)
        print(f"\nworkers:\n{self.summary()}")
        bad = {w.name: codes[w.name] for w in survivors if codes[w.name] != 0}
        assert not bad, f"workers failed: {bad}\n{self.describe()}"

    def shutdown(self) -> None:
        """SIGKILLs (by pid) and reaps every worker still running."""
        for worker in self.workers:
            worker.kill(signal.SIGKILL)

    def summary(self) -> str:
        """One line per worker: exit code, main counters and the errors it was told of."""
        lines = []
        for worker in self.workers:
            status = worker.status()
            counters = {
                key: status[key]
                for key in ("sent", "confirmed", "failed", "handled", "holding")
                if status.get(key)
            }
            stats = {key: value for key, value in status.get("stats", {}).items() if value}
            lines.append(
                f"  {worker.name}: exit={worker.process.poll()} {counters} stats={stats} "
                f"errors={status.get('errors', {})} max_rss={status.get('max_rss_kb', 0)} KiB"
            )
        return "\n".join(lines)

    def describe(self) -> str:
        """Every worker's summary, for failure messages."""
        return "\n".join(worker.describe() for worker in self.workers)


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, fleet: Fleet | None = None
) -> None:
    """Polls `condition` every 50 ms until it holds.

    Raises:
        AssertionError: It did not hold within `timeout` seconds, or a worker of `fleet`
            crashed meanwhile (with the workers' summaries when `fleet` is given).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        crashed = fleet is not None and any(worker.crashed() for worker in fleet.workers)
        if crashed or time.monotonic() > deadline:
            reason = "a worker crashed" if crashed else f"timed out after {timeout:g}s"
            details = f"\n{fleet.describe()}" if fleet else ""
            raise AssertionError(f"{reason} while waiting for {what}{details}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    """Entry point: ``python -m faults.workers producer|consumer SPEC.json``."""
    role, spec_path = argv[1], Path(argv[2])
    document = json.loads(spec_path.read_text())
    if role == "producer":
        produce(ProducerSpec(**document))
    elif role == "consumer":
        consume(ConsumerSpec(**document))
    else:
        raise SystemExit(f"unknown role {role!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
