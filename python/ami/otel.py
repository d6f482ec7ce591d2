"""OpenTelemetry tracing: spans named and tagged by the messaging conventions, with the
trace context carried from producer to consumer in each message's headers.

Needs the ``otel`` extra (``pip install 'ami-streams[otel]'``, which brings only
``opentelemetry-api``); without an SDK configured every span is a no-op.

- `TracedProducer` / `TracedAsyncProducer` wrap a producer: each `send` or `send_many`
  call opens a ``send QUEUE`` span of kind PRODUCER and writes its context into the
  headers of the messages it sends (W3C ``traceparent``/``tracestate``, or whatever
  propagator the application installed).
- `process` opens a ``process QUEUE`` span of kind CONSUMER around the handling of one
  message, as a child of the producer's span, so a trace runs from `send` to the code
  that handled the message.
- `process_batch` opens one ``process QUEUE`` span around the handling of a list of
  messages, in the current trace, with a link to each message's sending span: a batch
  has many parents, and the conventions link them instead.
- ``ami.run_worker(..., trace=True)`` (``ami worker --trace``) wraps every handler call
  in one of these two.

A consumer that does not trace still reads those messages unchanged: the context is a
header like any other, and the Go ami reads only the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, Span, SpanKind, TracerProvider

from ami._ami import Message
from ami._async_producer import AsyncProducer
from ami._producer import Body, Headers, Key, Producer

__all__ = ["TracedAsyncProducer", "TracedProducer", "process", "process_batch"]

SYSTEM = "redis_streams"
"""The ``messaging.system`` of every span (the conventions leave Redis Streams unnamed)."""

_TRACER_NAME = "ami"
ManyHeaders = Headers | Iterable[Headers | None] | None


def _tracer(provider: TracerProvider | None) -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME, tracer_provider=provider)


def _send_attributes(queue: str, count: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    if count != 1:
        attributes["messaging.batch.message_count"] = count
    return attributes


def _with_context(headers: Headers | None) -> dict[str, str | bytes | bytearray]:
    """`headers` plus the current trace context (a new dict; the caller's is not changed)."""
    carrier: dict[str, str | bytes | bytearray] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def _many_with_context(headers: ManyHeaders) -> Any:
    """`send_many`'s headers with the current trace context in every message's (one
    mapping for all stays one mapping, so the call stays cheap)."""
    if headers is None or isinstance(headers, Mapping):
        return _with_context(headers)
    return [_with_context(one) for one in headers]


class _SendSpans:
    """Opens the PRODUCER span of one send call."""

    def __init__(self, queue: str, provider: TracerProvider | None) -> None:
        self._queue = queue
        self._tracer = _tracer(provider)

    @contextmanager
    def span(self, count: int) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            f"send {self._queue}",
            kind=SpanKind.PRODUCER,
            attributes=_send_attributes(self._queue, count),
        ) as span:
            yield span


class TracedProducer:
    """A `Producer` whose sends are traced; every other member is the producer's own.

    Args:
        producer: The producer to wrap; closing the wrapper closes it.
        tracer_provider: Where spans go; the global provider by default.
    """

    def __init__(self, producer: Producer, *, tracer_provider: TracerProvider | None = None):
        self.producer = producer
        self._spans = _SendSpans(producer.name, tracer_provider)

    def send(self, body: Body, *, headers: Headers | None = None, key: Key | None = None) -> None:
        """`Producer.send` inside a ``send QUEUE`` span whose context rides in the headers."""
        with self._spans.span(1):
            self.producer.send(body, headers=_with_context(headers), key=key)

    def send_many(
        self,
        bodies: Iterable[Body],
        *,
        headers: ManyHeaders = None,
        keys: Iterable[Key | None] | None = None,
    ) -> int:
        """`Producer.send_many` inside one span; every message carries its context."""
        batch = bodies if isinstance(bodies, list) else list(bodies)
        with self._spans.span(len(batch)):
            carried = _many_with_context(headers)
            return self.producer.send_many(batch, headers=carried, keys=keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)

    def __enter__(self) -> TracedProducer:
        self.producer.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.producer.__exit__(exc_type, exc, traceback)


class TracedAsyncProducer:
    """An `AsyncProducer` whose sends are traced; every other member is the producer's own.

    Args:
        producer: The producer to wrap; closing the wrapper closes it.
        tracer_provider: Where spans go; the global provider by default.
    """

    def __init__(
        self, producer: AsyncProducer, *, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.producer = producer
        self._spans = _SendSpans(producer.name, tracer_provider)

    async def send(
        self, body: Body, *, headers: Headers | None = None, key: Key | None = None
    ) -> None:
        """`AsyncProducer.send` inside a ``send QUEUE`` span whose context rides in the headers."""
        with self._spans.span(1):
            await self.producer.send(body, headers=_with_context(headers), key=key)

    async def send_many(
        self,
        bodies: Iterable[Body],
        *,
        headers: ManyHeaders = None,
        keys: Iterable[Key | None] | None = None,
    ) -> int:
        """`AsyncProducer.send_many` inside one span; every message carries its context."""
        batch = bodies if isinstance(bodies, list) else list(bodies)
        with self._spans.span(len(batch)):
            carried = _many_with_context(headers)
            return await self.producer.send_many(batch, headers=carried, keys=keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)

    async def __aenter__(self) -> TracedAsyncProducer:
        await self.producer.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.producer.__aexit__(exc_type, exc, traceback)


class _HeaderGetter(Getter[Mapping[str, bytes]]):
    """Reads a trace context out of `Message.headers`, whose values are bytes."""

    def get(self, carrier: Mapping[str, bytes], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        return [value.decode("utf-8", "replace")]

    def keys(self, carrier: Mapping[str, bytes]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


@contextmanager
def process(
    message: Message, queue: str, *, tracer_provider: TracerProvider | None = None
) -> Iterator[Span]:
    """A ``process QUEUE`` span (kind CONSUMER) around handling `message`.

    Its parent is the span that sent the message, when the message carries one;
    otherwise the current span, if any. Usable in sync and asyncio code alike.

    Args:
        message: The message being handled.
        queue: The queue's name, as given to the consumer.
        tracer_provider: Where spans go; the global provider by default.

    Yields:
        The span, for the handler's own attributes and events.
    """
    parent = propagate.extract(message.headers, context.get_current(), getter=_GETTER)
    attributes = _process_attributes(queue, message.group)
    attributes["messaging.destination.partition.id"] = message.stream
    attributes["messaging.message.id"] = message.id
    attributes["messaging.message.body.size"] = len(message.body)
    with _tracer(tracer_provider).start_as_current_span(
        f"process {queue}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def process_batch(
    messages: list[Message], queue: str, *, tracer_provider: TracerProvider | None = None
) -> Iterator[Span]:
    """One ``process QUEUE`` span (kind CONSUMER) around handling a list of messages.

    The span is a child of the current span, if any, and links to the span that sent
    each message that carries one (several messages of one `send_many` give one link
    each), with ``messaging.batch.message_count``. Usable in sync and asyncio code.

    Args:
        messages: The messages being handled together.
        queue: The queue's name, as given to the consumer.
        tracer_provider: Where spans go; the global provider by default.

    Yields:
        The span, for the handler's own attributes and events.
    """
    attributes = _process_attributes(queue, messages[0].group if messages else None)
    attributes["messaging.batch.message_count"] = len(messages)
    streams = {message.stream for message in messages}
    if len(streams) == 1:
        attributes["messaging.destination.partition.id"] = streams.pop()
    links = [link for link in map(_link, messages) if link is not None]
    with _tracer(tracer_provider).start_as_current_span(
        f"process {queue}", kind=SpanKind.CONSUMER, attributes=attributes, links=links
    ) as span:
        yield span


def _process_attributes(queue: str, group: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
    }
    if group is not None:
        attributes["messaging.consumer.group.name"] = group
    return attributes


def _link(message: Message) -> Link | None:
    """A link to the span that sent `message`, or None when it carries no context."""
    sent = trace.get_current_span(
        propagate.extract(message.headers, context.Context(), getter=_GETTER)
    ).get_span_context()
    if not sent.is_valid:
        return None
    return Link(sent, {"messaging.message.id": message.id})
