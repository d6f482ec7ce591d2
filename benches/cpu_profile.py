"""Where ami's client CPU per message goes, by layer: a `perf` profile of the timed part.

Runs the cases of the `make bench` client CPU table (`ami.bench.cpu_child`) under
``perf record --call-graph dwarf``, with sampling switched on only between the first
send (or the consumer's start) and the last confirmation, the same span `getrusage`
measures. Each sample is put in one layer by walking its stack from the leaf: allocator
and memcpy frames count for the code that called them, Python C-API calls made by the
binding count for the binding, and kernel time is split into syscalls and page faults.

    .venv/bin/python benches/cpu_profile.py [--messages 1000000] [--nodes host:port,...]

Needs ``perf`` (Debian: linux-perf) and root or ``kernel.perf_event_paranoid`` <= 2.
Prints, per case, the µs per message of each layer and the frames that cost most, and
keeps the ``perf.data`` files in ``--out`` for ``perf report -i``. The layers' shares
come from perf; their µs from the case's own `getrusage` figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from ami import Producer
from ami.bench import cpu_child, cpu_cost
from ami.bench.admin import Admin, fresh_queue
from ami.bench.config import CPU_BODY_SIZE, Workload
from ami.cluster import LocalCluster

CASES = ("ami_send", "ami_send_many", "ami_consume")

PY_EVAL = "_PyEval_EvalFrameDefault"
GC = ("gc_collect_main", "gc_collect_with_callback", "gc_collect_generations")
# Frames that do work for whoever called them: the caller decides the layer. The timeout
# wraps a shard reader's read, whose body is inlined into it (the build keeps no inline info).
NEUTRAL_PREFIXES = (
    "alloc::", "<alloc::", "core::", "<core::", "std::", "<std::", "__rust", "hashbrown::",
    "bytes::", "<bytes::", "_int_", "__memmove", "__memcpy", "__memset", "__memcmp", "malloc",
    "realloc", "free", "cfree", "__libc_", "__GI_", "unlink_chunk", "sysmalloc", "tcache",
    "checked_request2size", "[unknown]", "arena_", "__strlen", "__strchr",
    "<tokio::time::timeout::Timeout<T>",
)  # fmt: skip
LAYERS = (
    ("pyo3 boundary (args, Message objects)", ("_ami::python::", "<_ami::python::", "pyo3::",
                                               "<pyo3::")),
    ("redis-rs: building/encoding commands", ("_ami::producer::writer::xadd_pipeline",
                                              "redis::cmd::", "<redis::cmd::", "redis::pipeline",
                                              "<redis::pipeline")),
    ("redis-rs: reading/parsing replies", ("redis::", "<redis::", "combine::", "<combine::",
                                           "tokio_util::codec", "<tokio_util::codec",
                                           "<futures_util::stream::stream::forward::Forward")),
    ("ami writer: XADD encode+reply scan", ("_ami::wire::xadd_encoding",
                                            "_ami::wire::pipeline_replies",
                                            "<_ami::wire::pipeline_replies",
                                            "_ami::producer::write_link",
                                            "_ami::producer::direct_write")),
    ("ami reader: XREADGROUP read+parse", ("_ami::wire::", "<_ami::wire::",
                                           "_ami::consumer::reader::",
                                           "_ami::consumer::direct_read")),
    ("tokio scheduling", ("tokio::", "<tokio::", "futures_", "<futures_", "parking_lot",
                          "<parking_lot", "mio::", "<mio::")),
    ("ami core: buffers, batches, acks", ("_ami::", "<_ami::")),
)  # fmt: skip


class PerfWindow(cpu_cost.Stopwatch):
    """The `Stopwatch` of the measured span, which also switches perf's sampling on and off."""

    def __init__(self) -> None:
        self._control = os.environ["CPU_PROFILE_CTL"]
        self._ack = os.environ["CPU_PROFILE_ACK"]

    def __enter__(self) -> PerfWindow:
        self._tell("enable")
        super().__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, traceback)
        self._tell("disable")

    def _tell(self, command: str) -> None:
        with open(self._control, "w") as control:
            control.write(command + "\n")
        with open(self._ack) as ack:
            ack.readline()


def child(case: str, nodes: str, queue: str, messages: int) -> None:
    """Runs one case of `cpu_child` with perf sampling only inside its timed span."""
    cpu_child.Stopwatch = PerfWindow  # type: ignore[misc]
    sample = cpu_child.RUNS[case](nodes.split(","), queue, Workload(CPU_BODY_SIZE, messages))
    print(json.dumps(asdict(sample)), flush=True)


def record(
    case: str, nodes: list[str], queue: str, messages: int, out: Path, hz: int
) -> dict[str, Any]:
    """Runs `case` under perf; returns the child's sample and where perf wrote."""
    data = out / f"{case}.perf.data"
    with tempfile.TemporaryDirectory() as fifo_dir:
        control, ack = Path(fifo_dir, "ctl"), Path(fifo_dir, "ack")
        os.mkfifo(control)
        os.mkfifo(ack)
        command = [
            "perf", "record", "-e", "cpu-clock", "-F", str(hz), "--call-graph", "dwarf,32768",
            "-D", "-1", "--control", f"fifo:{control},{ack}", "-o", str(data), "--",
            sys.executable, __file__, "--child", case, "--nodes", ",".join(nodes),
            "--queue", queue, "--messages", str(messages),
        ]  # fmt: skip
        env = {**os.environ, "CPU_PROFILE_CTL": str(control), "CPU_PROFILE_ACK": str(ack)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"perf record of {case} exited {done.returncode}:\n{done.stderr[-2000:]}")
    sample = json.loads(done.stdout.strip().splitlines()[-1])
    return {"sample": sample, "data": data}


def stacks(data: Path) -> Iterator[tuple[str, int, list[tuple[str, str]]]]:
    """(thread name, period in ns, [(symbol, dso) from the leaf up]) of each sample."""
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "--no-inline", "-F", "comm,period,ip,sym,dso"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for block in script.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        head = lines[0].split()
        frames = []
        for line in lines[1:]:
            _, _, rest = line.strip().partition(" ")
            symbol, _, dso = rest.rpartition(" (")
            frames.append((symbol.strip(), dso.rstrip(")")))
        yield " ".join(head[:-1]), int(head[-1]), frames


def layer(frames: list[tuple[str, str]]) -> tuple[str, str]:
    """The layer a sample's time belongs to, and the frame that decided it."""
    symbols = [symbol for symbol, _ in frames]
    if any(symbol in GC for symbol in symbols):
        return "python GC", next(s for s in symbols if s in GC)
    if frames and frames[0][1] == "[kernel.kallsyms]":
        if "asm_exc_page_fault" in symbols:
            return "kernel: page faults", _user_caller(frames)
        if "do_syscall_64" in symbols:
            return "kernel: syscalls", _syscall(frames)
        return "kernel: other", symbols[0]
    in_python = ""
    for symbol, dso in frames:
        if Path(dso).name.startswith(("libpython", "python")):
            if symbol == PY_EVAL:
                return "python interpreter", in_python or symbol
            in_python = in_python or symbol
            continue
        if symbol.startswith(NEUTRAL_PREFIXES) or "libc.so" in dso:
            continue
        for name, prefixes in LAYERS:
            if symbol.startswith(prefixes):
                return name, symbol
        return "other", symbol
    return ("python interpreter", in_python) if in_python else ("other", symbols[0])


def _syscall(frames: list[tuple[str, str]]) -> str:
    """The kernel function a syscall entered (``do_writev``, ``__x64_sys_recvfrom``), or
    the user-space wrapper that made it when the sample hit the entry itself."""
    symbols = [symbol for symbol, _ in frames]
    entry = symbols.index("do_syscall_64")
    if entry > 0:
        return symbols[entry - 1]
    return next((s for s, d in frames[entry:] if d != "[kernel.kallsyms]"), "?")


def _user_caller(frames: list[tuple[str, str]]) -> str:
    """The first frame of the program's own code above a kernel entry."""
    for symbol, dso in frames:
        user = dso != "[kernel.kallsyms]" and "libc.so" not in dso
        if user and not symbol.startswith(NEUTRAL_PREFIXES):
            return symbol
    return "?"


def summarize(case: str, run: dict[str, Any], top: int) -> None:
    """Prints the layers of one case in µs per message, then its costliest frames."""
    sample = cpu_cost.CpuSample(**run["sample"])
    layers: Counter[str] = Counter()
    deciders: Counter[tuple[str, str]] = Counter()
    threads: Counter[str] = Counter()
    allocator = 0
    for thread, period, frames in stacks(run["data"]):
        name, decider = layer(frames)
        layers[name] += period
        deciders[(name, decider)] += period
        threads[thread] += period
        if frames and frames[0][0].startswith(("_int_", "malloc", "free", "cfree", "realloc")):
            allocator += period
    total = sum(layers.values()) or 1
    us = sample.us_per_message
    print(
        f"\n{case}: {us:.3f} µs of client CPU per message (getrusage), {sample.msg_per_s:,.0f} "
        f"msg/s; perf saw {total / 1e9:.3f} s of the {sample.cpu_seconds:.3f} s"
    )
    print(
        "  threads: " + ", ".join(f"{t} {100 * p / total:.0f}%" for t, p in threads.most_common())
    )
    for name, period in layers.most_common():
        print(f"  {name:<36} {100 * period / total:5.1f}%  {us * period / total:6.3f} µs/msg")
    print(f"  {'(malloc/free leaves, in the above)':<36} {100 * allocator / total:5.1f}%")
    print("  costliest frames (layer: frame that decided it):")
    for (name, decider), period in deciders.most_common(top):
        print(f"    {100 * period / total:5.1f}%  {name}: {decider[:110]}")


def fill(nodes: list[str], queue: str, messages: int) -> None:
    """Writes the consumer's messages without profiling them."""
    body = Workload(CPU_BODY_SIZE, messages).body
    with Producer(queue, nodes=nodes) as producer:
        for start in range(0, messages, 10_000):
            producer.send_many([body] * min(10_000, messages - start))


@contextmanager
def cluster(nodes: str | None) -> Iterator[list[str]]:
    if nodes:
        yield nodes.split(",")
        return
    with LocalCluster(masters=3) as local:
        yield local.nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--nodes", help="an existing cluster; default: a local 3-master one")
    parser.add_argument("--out", type=Path, default=Path("bench-results/cpu-profile"))
    parser.add_argument("--hz", type=int, default=1999, help="samples per second per thread")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--queue", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.nodes, args.queue, args.messages)
        return
    if shutil.which("perf") is None:
        sys.exit("perf is not on PATH (Debian: apt-get install linux-perf)")
    args.out.mkdir(parents=True, exist_ok=True)
    with cluster(args.nodes) as nodes, Admin(nodes) as admin:
        queue = fresh_queue("profile")
        try:
            if "ami_consume" in args.cases and "ami_send" not in args.cases:
                fill(nodes, queue, args.messages)
            for case in args.cases:
                # The consumer drains what the send() loop wrote; send_many fills its own.
                target = fresh_queue("profile") if case == "ami_send_many" else queue
                run = record(case, nodes, target, args.messages, args.out, args.hz)
                summarize(case, run, args.top)
                if target != queue:
                    admin.delete_queue(target)
        finally:
            admin.delete_queue(queue)
    print(f"\nperf data in {args.out}/ (perf report -i {args.out}/CASE.perf.data)")


if __name__ == "__main__":
    main()
