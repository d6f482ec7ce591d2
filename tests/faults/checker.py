"""What the fault scenarios record, and the verdict computed from those records.

Every message body is ``<run-id>:<seq>`` (``:poison`` marks a message every handler
rejects, ``:xxx...`` pads the body). Producers append the half-open ranges
``start end`` they sent to ``*.sent`` and, once ``flush()`` returned 0, to
``*.confirmed``; consumers append ``seq id stream deliveries`` for every message they
handled to ``*.records`` before acking it. Files are appended to with fsync, so a
process killed with SIGKILL leaves everything it claimed behind; a torn last line is
ignored.

`check` drains the queue with a fresh consumer, reads all files and the cluster and
returns a `Report`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from redis.cluster import ClusterNode, RedisCluster

import ami
from ami import _ami

POISON = "poison"
SENT_SUFFIX = ".sent"
CONFIRMED_SUFFIX = ".confirmed"
RECORDS_SUFFIX = ".records"
RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench-results" / "faults.txt"


# --------------------------------------------------------------------------- bodies


def make_body(run_id: str, seq: int, *, poison: bool = False, pad: int = 0) -> bytes:
    """The body of message `seq` of run `run_id`."""
    text = f"{run_id}:{seq}"
    if poison:
        text += f":{POISON}"
    if pad:
        text += ":" + "x" * pad
    return text.encode()


def parse_body(body: bytes, run_id: str) -> tuple[int | None, bool]:
    """Returns ``(seq, poison)``; seq is None for a body this run did not send."""
    parts = body.decode("utf-8", "replace").split(":")
    if len(parts) < 2 or parts[0] != run_id or not parts[1].isdigit():
        return None, False
    return int(parts[1]), POISON in parts[2:]


# --------------------------------------------------------------------------- files


class AppendFile:
    """An append-only file whose writes reach the disk (fsync) before `append` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, lines: Iterable[str]) -> None:
        """Appends complete lines (each ending with a newline) and fsyncs."""
        data = "".join(lines).encode()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        """Closes the file; safe to call twice."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AppendFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def complete_lines(path: Path) -> list[str]:
    """The lines of `path` that were written completely (a torn last line is dropped)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return lines[:-1]  # the part after the last newline is empty or torn


def read_ranges(path: Path) -> set[int]:
    """The sequence numbers of the half-open ranges recorded in `path`."""
    seqs: set[int] = set()
    for line in complete_lines(path):
        start, end = (int(value) for value in line.split())
        seqs.update(range(start, end))
    return seqs


@dataclass(frozen=True)
class Record:
    """One handled message: its sequence number (None if foreign), id, stream, deliveries."""

    seq: int | None
    id: str
    stream: str
    deliveries: int


def format_record(message: ami.Message, run_id: str) -> str:
    """The records-file line of a handled message."""
    seq, _ = parse_body(message.body, run_id)
    shown = "?" if seq is None else str(seq)
    return f"{shown} {message.id} {message.stream} {message.deliveries}\n"


def read_records(path: Path) -> list[Record]:
    """The messages handled according to one records file."""
    records = []
    for line in complete_lines(path):
        seq, message_id, stream, deliveries = line.split()
        number = None if seq == "?" else int(seq)
        records.append(Record(number, message_id, stream, int(deliveries)))
    return records


def handled_since(directory: Path, names: Iterable[str], stream: str, seq: int) -> int:
    """How many messages numbered `seq` or later the named consumers handled from `stream`."""
    return sum(
        1
        for name in names
        for r in read_records(directory / f"{name}{RECORDS_SUFFIX}")
        if r.stream == stream and r.seq is not None and r.seq >= seq
    )


def files(directory: Path, suffix: str) -> list[Path]:
    """The files of `directory` ending in `suffix`, sorted."""
    return sorted(directory.glob(f"*{suffix}"))


# --------------------------------------------------------------------------- cluster


def stream_names(
    queue: str, shards: int, layout: str = "go", offset: int | None = None
) -> list[str]:
    """The shard streams of `queue` (a spread queue's on the `offset` it recorded)."""
    return [_ami.stream_name(queue, i, shards, layout, offset) for i in range(shards)]


def recorded_offset(client: RedisCluster, queue: str) -> int | None:
    """The offset a spread queue recorded in ``qu_NAME_shards``, if any."""
    words = (client.get(f"qu_{queue}_shards") or b"").split()
    return int(words[2]) if len(words) == 3 else None


def cluster_client(nodes: list[str]) -> RedisCluster:
    """A redis-py cluster client for looking at what the package left behind."""
    startup = [ClusterNode(host, int(port)) for host, port in (n.rsplit(":", 1) for n in nodes)]
    return RedisCluster(startup_nodes=startup, decode_responses=False)


@dataclass(frozen=True)
class Leftovers:
    """What is still in the queue: stream entries, pending entries, dead letters."""

    length: int
    pending: int
    dead_letter_bodies: tuple[bytes, ...]


def leftovers(nodes: list[str], queue: str, shards: int, layout: str = "go") -> Leftovers:
    """Reads XLEN, XPENDING and the dead-letter streams of every shard."""
    client = cluster_client(nodes)
    group = f"qu_{queue}_group"
    try:
        length = pending = 0
        dead: list[bytes] = []
        offset = recorded_offset(client, queue) if layout == "spread" else None
        for shard, stream in enumerate(stream_names(queue, shards, layout, offset)):
            length += client.xlen(stream)
            pending += client.xpending(stream, group)["pending"] if client.exists(stream) else 0
            dead_letters = _ami.dead_letter_stream_name(queue, shard, shards, layout, offset)
            entries: Any = client.xrange(dead_letters)
            dead += [bytes(entry[b"m"]) for _, entry in entries]
        return Leftovers(length, pending, tuple(dead))
    finally:
        client.close()


def handle(
    consumer: ami.Consumer,
    batch: list[ami.Message],
    records: AppendFile,
    run_id: str,
    reject_poison: bool,
) -> int:
    """Records the handled messages of `batch` durably, then acks them.

    Poison messages are rejected when `reject_poison`: neither recorded nor acked.

    Returns:
        How many were handled.
    """
    handled = [m for m in batch if not (reject_poison and parse_body(m.body, run_id)[1])]
    records.append(format_record(m, run_id) for m in handled)
    consumer.ack_many(handled)
    return len(handled)


def drain(
    nodes: list[str],
    queue: str,
    shards: int,
    directory: Path,
    run_id: str,
    *,
    reject_poison: bool = False,
    idle: float = 4.0,
    limit: float = 90.0,
    layout: str = "go",
) -> int:
    """Consumes what is left with a fresh consumer that claims everything idle for 1 s.

    Returns:
        How many messages it handled (recorded in ``drain-XXXXXX.records``).
    """
    handled = 0
    errors: list[ami.AmiError] = []
    name = f"drain-{uuid.uuid4().hex[:6]}"
    with (
        AppendFile(directory / f"{name}{RECORDS_SUFFIX}") as records,
        ami.Consumer(
            queue,
            consumer=name,
            nodes=nodes,
            shards=shards,
            layout=layout,
            claim_idle=1.0,
            block=0.5,
            connect_timeout=30.0,
            on_error=errors.append,
        ) as consumer,
    ):
        started = last = time.monotonic()
        while time.monotonic() - last < idle and time.monotonic() - started < limit:
            batch = consumer.consume(1000, timeout=0.5)
            if batch:
                handled += handle(consumer, batch, records, run_id, reject_poison)
                last = time.monotonic()
        consumer.flush(30.0)
    return handled


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Report:
    """The verdict of one scenario.

    Attributes:
        expected: Messages confirmed by a producer (flush returned 0).
        received: Distinct messages handled by some consumer (the final drain included).
        lost: Confirmed messages nobody handled and that are not in a dead-letter stream.
        duplicated: Messages handled more than once.
        unexpected: Handled messages no producer sent.
        still_pending: Entries still pending in the group after the final drain.
        sent: Messages a producer handed to `send_many` (confirmed or not).
        left: Entries still in the shard streams after the final drain.
        dead_lettered: Messages of this run in the dead-letter streams.
        written_twice: Duplicates with distinct ids (the producer wrote them again).
        seconds: Wall time of the scenario.
        lost_sample: A few of the lost sequence numbers, for the failure message.
    """

    expected: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    still_pending: int
    sent: int = 0
    left: int = 0
    dead_lettered: int = 0
    written_twice: int = 0
    seconds: float = 0.0
    lost_sample: tuple[int, ...] = field(default=(), repr=False)

    def table(self, scenario: str) -> str:
        """A two-line table of the counts, headed by the scenario name."""
        names = [f.name for f in fields(self) if f.name not in ("lost_sample", "seconds")]
        widths = [max(len(name), 7) for name in names]
        header = "  ".join(name.rjust(w) for name, w in zip(names, widths, strict=True))
        values = "  ".join(
            str(getattr(self, name)).rjust(w) for name, w in zip(names, widths, strict=True)
        )
        return f"\n== {scenario} ({self.seconds:.1f} s)\n{header}\n{values}"

    def line(self, scenario: str) -> str:
        """One line for ``bench-results/faults.txt``."""
        counts = " ".join(
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name not in ("lost_sample", "seconds")
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp} {scenario} {counts} seconds={self.seconds:.1f}\n"


def _received(directory: Path) -> tuple[Counter[int], dict[int, set[str]], int]:
    """Handled count and ids per sequence number, and the number of foreign records."""
    counts: Counter[int] = Counter()
    ids: dict[int, set[str]] = defaultdict(set)
    foreign = 0
    for path in files(directory, RECORDS_SUFFIX):
        for record in read_records(path):
            if record.seq is None:
                foreign += 1
                continue
            counts[record.seq] += 1
            ids[record.seq].add(record.id)
    return counts, ids, foreign


def _union(paths: Iterable[Path]) -> set[int]:
    seqs: set[int] = set()
    for path in paths:
        seqs |= read_ranges(path)
    return seqs


def compute(directory: Path, run_id: str, left: Leftovers, seconds: float = 0.0) -> Report:
    """Builds the report from the files in `directory` and what the cluster still holds."""
    sent = _union(files(directory, SENT_SUFFIX))
    confirmed = _union(files(directory, CONFIRMED_SUFFIX))
    counts, ids, foreign = _received(directory)
    parsed = (parse_body(body, run_id)[0] for body in left.dead_letter_bodies)
    dead = {seq for seq in parsed if seq is not None}
    lost = sorted(confirmed - counts.keys() - dead)
    return Report(
        expected=len(confirmed),
        received=len(counts),
        lost=len(lost),
        duplicated=sum(1 for n in counts.values() if n > 1),
        unexpected=foreign + len(counts.keys() - sent),
        still_pending=left.pending,
        sent=len(sent),
        left=left.length,
        dead_lettered=len(dead),
        written_twice=sum(1 for seen in ids.values() if len(seen) > 1),
        seconds=seconds,
        lost_sample=tuple(lost[:10]),
    )


def check(
    scenario: str,
    directory: Path,
    nodes: list[str],
    queue: str,
    shards: int,
    run_id: str,
    *,
    started: float,
    reject_poison: bool = False,
    layout: str = "go",
) -> Report:
    """Drains the queue, computes the report, prints it and appends it to the results file.

    Args:
        scenario: Name printed and logged with the report.
        directory: The run directory holding the workers' files.
        nodes: Live seed nodes.
        queue: Queue name.
        shards: Shard count of the queue.
        run_id: The run id in the bodies.
        started: `time.monotonic()` at the start of the scenario.
        reject_poison: Whether the drain rejects poison messages, like the workers.
        layout: The queue's layout.
    """
    drain(nodes, queue, shards, directory, run_id, reject_poison=reject_poison, layout=layout)
    left = leftovers(nodes, queue, shards, layout)
    report = compute(directory, run_id, left, seconds=time.monotonic() - started)
    print(report.table(scenario))
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS_FILE.open("a") as results:
        results.write(report.line(scenario))
    return report


def assert_nothing_lost(report: Report, details: str = "") -> None:
    """The suite's central claim: every confirmed message was handled (or dead-lettered),
    nothing foreign showed up and the final drain left nothing behind."""
    assert report.lost == 0, f"lost {report.lost}, e.g. {report.lost_sample}\n{details}"
    assert report.unexpected == 0, details
    assert report.still_pending == 0, details
    assert report.left == 0, details
