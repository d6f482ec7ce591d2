"""Child process of the client CPU measurement: ``python -m ami.bench.cpu_child CASE``.

Connects, times one case with `Stopwatch` and prints the sample as one JSON line. Kept
apart from `ami.bench.cpu_cost` so that the package never imports the module it runs as
``__main__``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict

from ami._consumer import Consumer
from ami._producer import Producer
from ami.bench import redis_py
from ami.bench.admin import Admin, stream_names
from ami.bench.ami_runs import CHUNK, CONSUMER, PREFETCH, consume_and_ack
from ami.bench.config import (
    CPU_AMI_CONSUME,
    CPU_AMI_SEND,
    CPU_AMI_SEND_MANY,
    CPU_GLIDE_CONSUME,
    CPU_GLIDE_PRODUCE,
    CPU_REDIS_PY_CONSUME,
    CPU_REDIS_PY_PRODUCE,
    SHARDS,
    Workload,
)
from ami.bench.cpu_cost import CpuSample, Stopwatch


def ami_send(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """A `send` per message, timed until `flush` confirms them all."""
    body, total = workload.body, workload.messages
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        send = producer.send
        with Stopwatch() as watch:
            for _ in range(total):
                send(body)
            producer.flush()
    return watch.sample(total)


def ami_send_many(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """`send_many` of lists of `CHUNK` bodies, timed until `flush` confirms them all."""
    body, total = workload.body, workload.messages
    with Producer(queue, nodes=nodes, shards=SHARDS) as producer, Stopwatch() as watch:
        for start in range(0, total, CHUNK):
            producer.send_many([body] * min(CHUNK, total - start))
        producer.flush()
    return watch.sample(total)


def ami_consume(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """`consume(CHUNK)` and `ack_many`, timed until `flush` confirms every ack.

    The readers start with the consumer, so the clock starts as soon as it exists: what
    they read before the first `consume` is counted.
    """
    total = workload.messages
    with (
        Consumer(
            queue, consumer=CONSUMER, nodes=nodes, shards=SHARDS, prefetch_count=PREFETCH
        ) as consumer,
        Stopwatch() as watch,
    ):
        consume_and_ack(consumer, total)
    return watch.sample(total)


def _connected_admin(nodes: list[str], queue: str) -> Admin:
    """A redis-py client with a connection open to each shard's master already."""
    admin = Admin(nodes)
    for stream in stream_names(queue):
        admin.node_connection(stream).ping()
    return admin


def redis_py_produce(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """The baseline's pipelines (`redis_py.produce`), group creation included."""
    with _connected_admin(nodes, queue) as admin, Stopwatch() as watch:
        redis_py.produce(admin, queue, workload, _ignore)
    return watch.sample(workload.messages)


def redis_py_consume(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    """The baseline's reads with piggybacked XACK+XDEL (`redis_py.consume`)."""
    with _connected_admin(nodes, queue) as admin, Stopwatch() as watch:
        redis_py.consume(admin, queue, workload.messages, _ignore)
    return watch.sample(workload.messages)


def glide_produce(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    from ami.bench import glide_runs

    return glide_runs.produce(nodes, queue, workload)


def glide_consume(nodes: list[str], queue: str, workload: Workload) -> CpuSample:
    from ami.bench import glide_runs

    return glide_runs.consume(nodes, queue, workload)


def _ignore(done: int, total: int) -> None:
    """Progress callback: the child reports nothing until it is done."""


Run = Callable[[list[str], str, Workload], CpuSample]

RUNS: dict[str, Run] = {
    CPU_AMI_SEND.key: ami_send,
    CPU_AMI_SEND_MANY.key: ami_send_many,
    CPU_AMI_CONSUME.key: ami_consume,
    CPU_REDIS_PY_PRODUCE.key: redis_py_produce,
    CPU_REDIS_PY_CONSUME.key: redis_py_consume,
    CPU_GLIDE_PRODUCE.key: glide_produce,
    CPU_GLIDE_CONSUME.key: glide_consume,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Child entry point: runs one case and prints its sample as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m ami.bench.cpu_child")
    parser.add_argument("case", choices=sorted(RUNS))
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--body-size", type=int, required=True)
    args = parser.parse_args(argv)
    workload = Workload(args.body_size, args.messages)
    sample = RUNS[args.case](args.nodes.split(","), args.queue, workload)
    print(json.dumps(asdict(sample)), flush=True)


if __name__ == "__main__":
    main()
