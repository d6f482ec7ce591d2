"""Tracing: one trace runs from `send` through the message's headers to its handling."""

from __future__ import annotations

import asyncio

import pytest
from redis.cluster import RedisCluster

import ami

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from ami.otel import TracedAsyncProducer, TracedProducer, process
from tests.helpers import drain, stream_names


def spans_of(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == kind]


def test_a_handled_message_continues_the_trace_of_its_send(
    nodes: list[str], queue: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TracedProducer(ami.Producer(queue, nodes=nodes, shards=2), tracer_provider=provider) as p:
        p.send(b"traced", headers={"tenant": "acme"})
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=2) as consumer:
        [message] = drain(consumer, 1)
        with process(message, queue, tracer_provider=provider) as span:
            span.set_attribute("handled", True)
    [sent] = spans_of(exporter, SpanKind.PRODUCER)
    [handled] = spans_of(exporter, SpanKind.CONSUMER)
    assert sent.name == f"send {queue}"
    assert sent.attributes is not None
    assert sent.attributes["messaging.destination.name"] == queue
    assert sent.attributes["messaging.operation.type"] == "send"
    assert handled.name == f"process {queue}"
    assert handled.parent is not None and sent.context is not None
    assert handled.parent.span_id == sent.context.span_id
    assert handled.context is not None and handled.context.trace_id == sent.context.trace_id
    assert handled.attributes is not None
    assert handled.attributes["messaging.message.id"] == message.id
    assert handled.attributes["messaging.consumer.group.name"] == message.group
    assert message.body == b"traced"
    assert message.headers["tenant"] == b"acme"
    assert "traceparent" in message.headers


def test_a_batch_is_one_span_and_every_message_carries_it(
    nodes: list[str], queue: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    bodies = [f"m{i}".encode() for i in range(50)]
    with TracedProducer(ami.Producer(queue, nodes=nodes, shards=2), tracer_provider=provider) as p:
        assert p.send_many(bodies) == len(bodies)
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=2) as consumer:
        received = drain(consumer, len(bodies))
    [sent] = spans_of(exporter, SpanKind.PRODUCER)
    assert sent.attributes is not None
    assert sent.attributes["messaging.batch.message_count"] == len(bodies)
    assert sorted(m.body for m in received) == sorted(bodies)
    assert sent.context is not None
    trace_id = f"{sent.context.trace_id:032x}"
    assert all(trace_id in m.headers["traceparent"].decode() for m in received)


def test_the_go_wire_format_still_holds_for_traced_messages(
    nodes: list[str], redis_client: RedisCluster, queue: str, provider: TracerProvider
) -> None:
    with TracedProducer(ami.Producer(queue, nodes=nodes, shards=1), tracer_provider=provider) as p:
        p.send(b"body")
    [[_, fields]] = redis_client.xrange(stream_names(queue, 1)[0])
    assert next(iter(fields)) == b"m"
    assert fields[b"m"] == b"body"


def test_a_message_without_context_is_handled_under_the_current_span(
    nodes: list[str], queue: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=1) as producer:
        producer.send(b"plain")
    tracer = provider.get_tracer("test")
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        [message] = drain(consumer, 1)
        with (
            tracer.start_as_current_span("batch") as outer,
            process(message, queue, tracer_provider=provider),
        ):
            pass
    [handled] = spans_of(exporter, SpanKind.CONSUMER)
    assert handled.parent is not None
    assert handled.parent.span_id == outer.get_span_context().span_id


def test_async_sends_are_traced(
    nodes: list[str], queue: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async def main() -> None:
        producer = ami.AsyncProducer(queue, nodes=nodes, shards=2)
        async with TracedAsyncProducer(producer, tracer_provider=provider) as traced:
            await traced.send(b"one")
            await traced.send_many([b"two", b"three"])

    asyncio.run(main())
    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=2) as consumer:
        received = drain(consumer, 3)
    sent = spans_of(exporter, SpanKind.PRODUCER)
    assert len(sent) == 2
    assert sorted(m.body for m in received) == [b"one", b"three", b"two"]
    assert all("traceparent" in m.headers for m in received)
