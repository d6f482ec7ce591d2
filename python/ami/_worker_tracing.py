"""The worker's ``trace=True``: each handler call inside an `ami.otel` span."""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from ami.exceptions import ConfigError


def is_coroutine_callable(handler: Any) -> bool:
    """True for a coroutine function, or an object whose ``__call__`` is one."""
    call = getattr(handler, "__call__", None)  # noqa: B004 (callable objects)
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def traced(handler: Any, queue: str, *, batch: bool, tracer_provider: Any) -> Any:
    """`handler`, each call of which runs inside ``ami.otel.process`` (one message, a
    child of its sending span) or, with `batch`, ``ami.otel.process_batch`` (one span
    per list, linked to each message's sending span).

    A handler's exception is recorded on the span, which ends with status ERROR, and
    goes on to the worker, which nacks as without tracing.

    Raises:
        ConfigError: OpenTelemetry is not installed (the ``otel`` extra).
    """
    try:
        otel = importlib.import_module("ami.otel")
    except ImportError as exc:
        raise ConfigError(
            f"tracing needs OpenTelemetry, which is missing ({exc}): install the otel "
            "extra, pip install 'ami-streams[otel]'",
            "trace",
        ) from None
    span = otel.process_batch if batch else otel.process

    if is_coroutine_callable(handler):

        @functools.wraps(handler)
        async def traced_async(unit: Any) -> Any:
            with span(unit, queue, tracer_provider=tracer_provider):
                return await handler(unit)

        return traced_async

    @functools.wraps(handler)
    def traced_sync(unit: Any) -> Any:
        with span(unit, queue, tracer_provider=tracer_provider):
            return handler(unit)

    return traced_sync
