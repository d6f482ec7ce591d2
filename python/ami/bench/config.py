"""What one benchmark run measures: workloads, cases and sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SHARDS = 10
DEFAULT_MESSAGES = 1_000_000
QUICK_MESSAGES = 50_000
RSS_MESSAGES = 1_000_000
RSS_BODY_SIZE = 100
LATENCY_RATES = (1_000, 20_000, 100_000)
QUICK_LATENCY_RATES = (1_000,)
CPU_MESSAGES = 500_000
# redis-py and valkey-glide spend about ten times ami's CPU per message: fewer messages
# measure them as precisely and keep the client CPU table near a minute of the run.
CPU_PEER_MESSAGES = 200_000
CPU_BODY_SIZE = 16
BODY_SIZES = (2, 100, 4096)
# Bigger bodies get fewer messages so every workload moves a similar time's worth of
# data; 4 KiB bodies at the full count would hold gigabytes in the servers.
MESSAGE_DIVISORS = {2: 1, 100: 2, 4096: 10}

# The distance section: 16-byte messages per row, and the round trips the proxy adds
# (0 ms measures the proxy itself).
DISTANCE_MESSAGES = 100_000
QUICK_DISTANCE_MESSAGES = 20_000
DISTANCE_RTTS_MS = (0.0, 1.0, 10.0, 50.0)


@dataclass(frozen=True)
class Case:
    """One way of moving messages, measured for every body size.

    Attributes:
        key: Stable identifier used in the JSON.
        label: Human-readable name for the table and plot.
        phase: ``"produce"`` or ``"consume"`` (consume includes the acks).
        client: ``"redis-benchmark"``, ``"redis-py"`` or ``"ami"``.
    """

    key: str
    label: str
    phase: str
    client: str


CEILING = Case("redis_benchmark", "redis-benchmark -P 100 -c 50", "produce", "redis-benchmark")
REDIS_PY_PRODUCE = Case("redis_py_produce", "redis-py pipelines of 1,000", "produce", "redis-py")
AMI_SEND = Case("ami_send", "ami send() per message", "produce", "ami")
AMI_SEND_MANY = Case("ami_send_many", "ami send_many(10,000)", "produce", "ami")
REDIS_PY_CONSUME = Case(
    "redis_py_consume", "redis-py XREADGROUP + XACK/XDEL", "consume", "redis-py"
)
AMI_ITERATE = Case("ami_iterate_ack", "ami for msg in c: ack(msg)", "consume", "ami")
AMI_CONSUME_MANY = Case("ami_consume_ack_many", "ami consume(10,000)+ack_many", "consume", "ami")
AMI_CONSUME_XDEL = Case(
    "ami_consume_ack_many_xdel", "ami consume+ack_many, XACK+XDEL", "consume", "ami"
)
AMI_WORKER = Case("ami_worker", "ami run_worker, handler per message", "consume", "ami")

CASES = (
    CEILING,
    REDIS_PY_PRODUCE,
    AMI_SEND,
    AMI_SEND_MANY,
    REDIS_PY_CONSUME,
    AMI_ITERATE,
    AMI_CONSUME_MANY,
    AMI_CONSUME_XDEL,
    AMI_WORKER,
)

# Client CPU per message: each case runs in a child process of its own (`cpu_cost`).
CPU_AMI_SEND = Case("ami_send", "send()", "produce", "ami")
CPU_AMI_SEND_MANY = Case("ami_send_many", "send_many(10,000)", "produce", "ami")
CPU_AMI_CONSUME = Case("ami_consume", "consume(10,000)+ack_many", "consume", "ami")
CPU_REDIS_PY_PRODUCE = Case("redis_py_produce", "pipelines of 1,000 XADD", "produce", "redis-py")
CPU_REDIS_PY_CONSUME = Case(
    "redis_py_consume", "XREADGROUP COUNT 1000 + XACK/XDEL", "consume", "redis-py"
)
CPU_GLIDE_PRODUCE = Case(
    "glide_produce", "batches of 1,000 XADD, 10 at once", "produce", "valkey-glide"
)
CPU_GLIDE_CONSUME = Case(
    "glide_consume", "XREADGROUP COUNT 1000 + XACK/XDEL, 10 at once", "consume", "valkey-glide"
)
CPU_CLIENTS = ("ami", "redis-py", "valkey-glide")
# Each pair fills a fresh queue, then drains it (None: the queue is only deleted).
CPU_PAIRS: tuple[tuple[Case, Case | None], ...] = (
    (CPU_AMI_SEND, CPU_AMI_CONSUME),
    (CPU_AMI_SEND_MANY, None),
    (CPU_REDIS_PY_PRODUCE, CPU_REDIS_PY_CONSUME),
    (CPU_GLIDE_PRODUCE, CPU_GLIDE_CONSUME),
)
CPU_CASES = tuple(case for pair in CPU_PAIRS for case in pair if case is not None)


@dataclass(frozen=True)
class Workload:
    """A body size and how many messages of it to move per measurement."""

    body_size: int
    messages: int

    @property
    def body(self) -> bytes:
        """A printable body of `body_size` bytes (it also travels on a command line)."""
        if self.body_size == 2:
            return b"{}"
        pattern = b'{"id":12345,"name":"ami","payload":"' + b"x" * 64 + b'"}'
        return (pattern * (self.body_size // len(pattern) + 1))[: self.body_size]

    @property
    def megabytes(self) -> float:
        """Total body bytes of one measurement, in MB (10^6 bytes)."""
        return self.messages * self.body_size / 1e6


@dataclass(frozen=True)
class BenchConfig:
    """Options of one benchmark run.

    Attributes:
        messages: Messages of 2 bytes per measurement; bigger bodies get fewer.
        repeat: How many times each measurement runs; the median is reported.
        quick: Small sizes and short latency runs, for a smoke test.
        out: Directory for the JSON, the table and the plot.
        nodes: Seeds of an existing cluster; None starts a local one.
        masters: Masters of the local cluster.
        rss_messages: Messages buffered for the client memory measurement.
        latency_seconds: How long the steady-rate latency run sends.
        latency_warmup: Seconds of latency samples discarded at the start.
        cpu_messages: Messages of `CPU_BODY_SIZE` bytes per client CPU measurement of ami
            (redis-py and valkey-glide move at most `CPU_PEER_MESSAGES`).
        latency_rates: Steady rates, in messages per second, of the latency runs.
        distance_messages: Messages per row of the distance section.
    """

    messages: int = DEFAULT_MESSAGES
    repeat: int = 3
    quick: bool = False
    out: Path = Path("bench-results")
    nodes: list[str] | None = None
    masters: int = 3
    rss_messages: int = RSS_MESSAGES
    latency_seconds: float = 5.0
    latency_warmup: float = 0.5
    cpu_messages: int = CPU_MESSAGES
    latency_rates: tuple[int, ...] = LATENCY_RATES
    body_sizes: tuple[int, ...] = field(default=BODY_SIZES)
    distance_messages: int = DISTANCE_MESSAGES

    @classmethod
    def from_options(
        cls,
        *,
        messages: int | None,
        repeat: int,
        quick: bool,
        out: Path,
        nodes: list[str] | None,
        masters: int = 3,
    ) -> BenchConfig:
        """Fills in the sizes that depend on `quick`.

        Args:
            messages: Messages of 2 bytes; None for the default of the mode.
            repeat: Repetitions of each measurement.
            quick: Smoke-test mode: about 50,000 messages and one-second latency runs.
            out: Output directory.
            nodes: Seeds of an existing cluster, or None.
            masters: Masters of the local cluster.

        Returns:
            The configuration.
        """
        count = messages if messages is not None else QUICK_MESSAGES if quick else DEFAULT_MESSAGES
        return cls(
            messages=count,
            repeat=repeat,
            quick=quick,
            out=out,
            nodes=nodes,
            masters=masters,
            rss_messages=count if quick else RSS_MESSAGES,
            latency_seconds=1.0 if quick else 5.0,
            latency_warmup=0.2 if quick else 0.5,
            cpu_messages=count if quick else CPU_MESSAGES,
            latency_rates=QUICK_LATENCY_RATES if quick else LATENCY_RATES,
            distance_messages=QUICK_DISTANCE_MESSAGES if quick else DISTANCE_MESSAGES,
        )

    @property
    def cpu_peer_messages(self) -> int:
        """Messages per client CPU measurement of redis-py and valkey-glide."""
        return min(self.cpu_messages, CPU_PEER_MESSAGES)

    def cpu_workload(self, case: Case) -> Workload:
        """The messages one client CPU measurement of `case` moves."""
        messages = self.cpu_messages if case.client == "ami" else self.cpu_peer_messages
        return Workload(CPU_BODY_SIZE, messages)

    @property
    def workloads(self) -> list[Workload]:
        """One workload per body size."""
        return [
            Workload(size, max(1, self.messages // MESSAGE_DIVISORS.get(size, 1)))
            for size in self.body_sizes
        ]

    def to_dict(self) -> dict[str, object]:
        """The configuration as JSON-ready values."""
        return {
            "messages": self.messages,
            "repeat": self.repeat,
            "quick": self.quick,
            "shards": SHARDS,
            "masters": self.masters if self.nodes is None else None,
            "nodes": self.nodes,
            "workloads": [
                {"body_bytes": w.body_size, "messages": w.messages} for w in self.workloads
            ],
            "rss_messages": self.rss_messages,
            "rss_body_bytes": RSS_BODY_SIZE,
            "latency_rates": list(self.latency_rates),
            "latency_seconds": self.latency_seconds,
            "latency_warmup_seconds": self.latency_warmup,
            "cpu_messages": self.cpu_messages,
            "cpu_peer_messages": self.cpu_peer_messages,
            "cpu_body_bytes": CPU_BODY_SIZE,
            "distance_messages": self.distance_messages,
            "distance_rtts_ms": list(DISTANCE_RTTS_MS),
        }
