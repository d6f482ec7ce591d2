"""``run_worker(..., trace=True)`` and ``ami worker --trace``: every handler call runs in
a span that continues the trace of the message's send (a batch links to each one)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import ami
from ami import cli
from helpers import wait_until

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ami.otel import TracedProducer

SHARDS = 2
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def _spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == kind]


def _run_until(worker: ami.Worker, done: Callable[[], bool]) -> dict[str, int]:
    """Runs `worker` on a thread until `done`, then drains it; returns its counts."""
    runner = threading.Thread(target=worker.run, kwargs={"handle_signals": False})
    runner.start()
    try:
        wait_until(done, "the worker to handle every message", timeout=30.0)
    finally:
        worker.stop()
        runner.join(timeout=30.0)
    assert not runner.is_alive()
    return worker.stats()


def _current_span_id() -> int:
    return trace.get_current_span().get_span_context().span_id


# --------------------------------------------------------------------------- one message


@pytest.mark.parametrize(
    ("kind", "concurrency"), [("sync", 1), ("sync", 4), ("async", 1), ("async", 4)]
)
def test_each_message_is_handled_in_a_child_of_its_send_span(
    nodes: list[str],
    queue: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    kind: str,
    concurrency: int,
) -> None:
    bodies = [b"m%d" % i for i in range(20)]
    with TracedProducer(
        ami.Producer(queue, nodes=nodes, shards=SHARDS), tracer_provider=provider
    ) as producer:
        for body in bodies:
            producer.send(body)
    handled: dict[bytes, int] = {}  # body -> id of the span it was handled in
    lock = threading.Lock()

    def handle(message: ami.Message) -> None:
        if message.body == b"m7" and message.deliveries == 1:
            raise ValueError("first delivery fails")
        with lock:
            handled[message.body] = _current_span_id()

    async def handle_async(message: ami.Message) -> None:
        await asyncio.sleep(0)
        handle(message)

    worker = ami.Worker(
        handle if kind == "sync" else handle_async,
        queue,
        consumer="w",
        nodes=nodes,
        shards=SHARDS,
        concurrency=concurrency,
        claim_idle=0.2,
        trace=True,
        tracer_provider=provider,
    )
    stats = _run_until(worker, lambda: len(handled) == len(bodies))

    assert stats == {"handled": len(bodies), "failed": 1}
    sent = {span.context.span_id: span for span in _spans(exporter, SpanKind.PRODUCER)}
    processed = _spans(exporter, SpanKind.CONSUMER)
    assert len(sent) == len(bodies) and len(processed) == len(bodies) + 1
    for span in processed:
        assert span.name == f"process {queue}"
        assert span.parent is not None and span.parent.span_id in sent
        assert span.context.trace_id == sent[span.parent.span_id].context.trace_id
        assert span.attributes is not None
        assert span.attributes["messaging.operation.type"] == "process"
    # The handler ran inside its span (also across an await), one span per message.
    ok = [span for span in processed if span.status.status_code != StatusCode.ERROR]
    assert sorted(handled.values()) == sorted(span.context.span_id for span in ok)
    [failed] = [span for span in processed if span.status.status_code == StatusCode.ERROR]
    assert [event.name for event in failed.events] == ["exception"]
    assert {span.parent.span_id for span in processed if span.parent} == set(sent)


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_batch_is_one_span_linked_to_each_send(
    nodes: list[str],
    queue: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    kind: str,
) -> None:
    traced_bodies = [b"t%d" % i for i in range(30)]
    plain_bodies = [b"p%d" % i for i in range(10)]
    with TracedProducer(
        ami.Producer(queue, nodes=nodes, shards=SHARDS), tracer_provider=provider
    ) as producer:
        producer.send_many(traced_bodies)
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many(plain_bodies)
    batches: list[tuple[list[bytes], int]] = []  # bodies, id of the span they were in
    lock = threading.Lock()

    def handle(messages: list[ami.Message]) -> None:
        with lock:
            batches.append(([m.body for m in messages], _current_span_id()))

    async def handle_async(messages: list[ami.Message]) -> None:
        await asyncio.sleep(0)
        handle(messages)

    total = len(traced_bodies) + len(plain_bodies)
    worker = ami.Worker(
        handle if kind == "sync" else handle_async,
        queue,
        consumer="w",
        nodes=nodes,
        shards=SHARDS,
        batch=True,
        batch_size=7,
        trace=True,
        tracer_provider=provider,
    )
    _run_until(worker, lambda: sum(len(bodies) for bodies, _ in batches) == total)

    [sent] = _spans(exporter, SpanKind.PRODUCER)
    processed = {span.context.span_id: span for span in _spans(exporter, SpanKind.CONSUMER)}
    assert len(processed) == len(batches)
    assert sorted(b for bodies, _ in batches for b in bodies) == sorted(
        traced_bodies + plain_bodies
    )
    for bodies, span_id in batches:
        span = processed[span_id]
        assert span.parent is None  # a batch has no one parent: it links instead
        assert span.attributes is not None
        assert span.attributes["messaging.batch.message_count"] == len(bodies)
        assert "messaging.message.id" not in span.attributes
        traced = [body for body in bodies if body.startswith(b"t")]
        assert len(span.links) == len(traced)
        assert all(link.context.span_id == sent.context.span_id for link in span.links)
        assert all(link.context.trace_id == sent.context.trace_id for link in span.links)


# --------------------------------------------------------------------------- refusals


def _without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make OpenTelemetry unimportable, as it is without the otel extra."""
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "ami.otel", raising=False)


def test_trace_without_the_otel_extra_is_a_config_error_before_connecting(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_opentelemetry(monkeypatch)

    # Nothing listens on port 1: a connection attempt would raise ConnectError.
    with pytest.raises(ami.ConfigError, match=r"otel extra") as raised:
        ami.run_worker(print, queue, consumer="w", nodes="127.0.0.1:1", trace=True)

    assert raised.value.option == "trace"


def test_cli_trace_without_the_otel_extra_is_a_one_line_usage_error(
    queue: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_opentelemetry(monkeypatch)

    assert cli.main(["worker", "os:getpid", queue, "--nodes", "127.0.0.1:1", "--trace"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("ami: error: tracing needs OpenTelemetry")
    assert "pip install 'ami-streams[otel]'" in err
    assert err.count("\n") == 1


def test_bad_tracing_arguments_are_refused_at_once(queue: str) -> None:
    with pytest.raises(ami.ConfigError, match="trace must be a bool"):
        ami.run_worker(print, queue, consumer="w", nodes="127.0.0.1:1", trace="yes")  # type: ignore[arg-type]
    with pytest.raises(ami.ConfigError, match="only used with trace=True"):
        ami.run_worker(
            print, queue, consumer="w", nodes="127.0.0.1:1", tracer_provider=TracerProvider()
        )


# --------------------------------------------------------------------------- ami worker --trace

# Configures the global provider at import, as an application (or opentelemetry-instrument)
# does, and writes down, per message, the trace it sent in and the span it is handled in.
TRACED_HANDLER = """
import os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())

def handle(message):
    span = trace.get_current_span()
    context = span.get_span_context()
    with open(os.environ["HANDLED_LOG"], "a") as log:
        log.write(
            f"{message.headers['traceparent'].decode()} {context.trace_id:032x} "
            f"{span.is_recording()}\\n"
        )
"""


def test_cli_worker_trace_uses_the_global_provider(
    tmp_path: Path, nodes: list[str], queue: str, provider: TracerProvider
) -> None:
    with TracedProducer(
        ami.Producer(queue, nodes=nodes, shards=SHARDS), tracer_provider=provider
    ) as producer:
        for body in (b"one", b"two", b"three"):
            producer.send(body)
    (tmp_path / "traced_handlers.py").write_text(textwrap.dedent(TRACED_HANDLER))
    log = tmp_path / "handled.log"
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), HANDLED_LOG=str(log))
    command = [sys.executable, "-m", "ami", "worker", "traced_handlers:handle", queue, "--trace"]
    command += ["--nodes", ",".join(nodes), "--shards", str(SHARDS), "--consumer", "w1"]
    worker = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE)
    try:
        wait_until(lambda: log.exists() and log.read_text().count("\n") == 3, "three handled", 30.0)
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=30)

    assert worker.returncode == 0
    assert b"3 handled, 0 failed" in out
    for line in log.read_text().splitlines():
        traceparent, trace_id, recording = line.split()
        assert traceparent.split("-")[1] == trace_id
        assert recording == "True"
