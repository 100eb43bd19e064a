"""PRODUCER spans for messages published in windows, at a fraction of the SDK's per-span cost.

A file-loading adapter publishes thousands of records a second, each with its own PRODUCER
span (OTel messaging conventions: ``send {destination}``, ``messaging.*`` attributes) and
its own W3C ``traceparent`` in the NATS headers. Through the SDK's ``start_as_current_span``
that span was a third of the adapter's time (``samband bench adapters`` profile): context
attach/detach, four locks, bounded attribute and event containers, and a copy on end.

`ProducerSpans` does what the SDK does for such a span, and no more: ids from the provider's
id generator, the provider's sampler asked with the span's name, kind and attributes, the
``traceparent`` formatted from the ids (the propagator's exact format), and, for a sampled
span, a `ReadableSpan` handed to the provider's span processors when the publish is
acknowledged (so the span lasts from publish to PubAck, like the router's). An unsampled
message still carries its trace context (flags ``00``), so the rest of the trace is not
sampled either. What it skips: processors' ``on_start`` (the span only exists once it has
ended; the SDK's batch and simple processors do nothing there) and attribute limits (the
few short attributes are far below any limit).

When the installed provider is not the SDK's (no tracing configured: no span, no header) or
the fast path fails, the SDK path (`start_messaging_span`) is used. Telemetry never breaks
delivery: nothing here raises.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._tracing import _TRACER_NAME, end_span, get_tracer, inject_span

__all__ = ["ProducerSpans", "MessageSpan"]

_PRODUCER = SpanKind.PRODUCER
_time_ns = time.time_ns


class MessageSpan:
    """One message's span: its ``traceparent`` (and ``tracestate``) for the headers, ended with `ProducerSpans.end`."""

    __slots__ = ("traceparent", "tracestate", "name", "trace_id", "span_id", "flags", "trace_state", "start", "attributes", "sdk_span")

    def __init__(self, traceparent: str | None, tracestate: str | None = None) -> None:
        self.traceparent, self.tracestate = traceparent, tracestate
        self.start = 0  # 0: not recording (unsampled), nothing to export
        self.sdk_span: trace.Span | None = None

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` with this span's trace context added."""
        if self.traceparent:
            headers["traceparent"] = self.traceparent
            if self.tracestate:
                headers["tracestate"] = self.tracestate
        return headers


class ProducerSpans:
    """PRODUCER spans ``send {destination}`` for many messages; the parent is the context current at creation."""

    def __init__(self, attributes: Mapping[str, Any] | None = None, *, provider: Any = None) -> None:
        self._extra = dict(attributes or {})
        self._names: dict[str, tuple[str, dict[str, Any]]] = {}
        self._parent_context = otel_context.get_current()
        parent = trace.get_current_span(self._parent_context).get_span_context()
        self._parent = parent if parent.is_valid else None
        provider = provider if provider is not None else trace.get_tracer_provider()
        self._tracer = None
        self._ratio: tuple[int, int] | None = None
        if isinstance(provider, TracerProvider):
            try:
                tracer = provider.get_tracer(_TRACER_NAME)
                if getattr(tracer, "_is_enabled", lambda: True)():
                    self._scope = getattr(tracer, "_instrumentation_scope", None)
                    ids = tracer.id_generator
                    self._new_trace_id, self._new_span_id = ids.generate_trace_id, ids.generate_span_id
                    self._random = (self._parent.trace_flags.random_trace_id if self._parent else ids.is_trace_id_random())
                    self._ratio = _root_ratio(tracer.sampler) if self._parent is None else None
                    tracer.span_processor, tracer.resource  # noqa: B018 - what `_end` needs, there
                    self._tracer = tracer
            except Exception:  # noqa: BLE001 - an SDK without what the fast path uses: the SDK path
                self._tracer = None
        # the SDK path: the process's cached tracer, or the given provider's
        self._slow_tracer = get_tracer() if provider is trace.get_tracer_provider() else provider.get_tracer(_TRACER_NAME)

    def _named(self, destination: str) -> tuple[str, dict[str, Any]]:
        named = self._names.get(destination)
        if named is None:
            attrs = {"messaging.system": "nats", "messaging.operation.name": "send", "messaging.destination.name": destination}
            attrs.update(self._extra)
            named = self._names[destination] = (f"send {destination}", attrs)
        return named

    def start(self, destination: str, message_id: str) -> MessageSpan:
        """The span of one message published now to ``destination``."""
        if self._tracer is not None:
            try:
                return self._start(destination, message_id)
            except Exception:  # noqa: BLE001 - an SDK that changed under us: the slow path still works
                self._tracer = None
        return self._start_sdk(destination, message_id)

    def _start(self, destination: str, message_id: str) -> MessageSpan:
        name, base = self._named(destination)
        attrs = base.copy()
        attrs["messaging.message.id"] = message_id
        parent = self._parent
        trace_id = parent.trace_id if parent is not None else self._new_trace_id()
        if self._ratio is not None:  # the default sampler on a root span: its decision, without its call chain
            limit, bound = self._ratio
            recording = sampled = trace_id & limit < bound
            state = None
        else:
            result = self._tracer.sampler.should_sample(self._parent_context, trace_id, name, _PRODUCER, attrs)  # type: ignore[union-attr]
            sampled, recording = result.decision.is_sampled(), result.decision.is_recording()
            attrs, state = dict(result.attributes or {}), result.trace_state  # our own: `end` adds to it
        flags = (1 if sampled else 0) | (2 if self._random else 0)
        span_id = self._new_span_id()
        span = MessageSpan(f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}", state.to_header() if state else None)
        if recording:
            span.name, span.trace_id, span.span_id, span.flags, span.trace_state = name, trace_id, span_id, flags, state
            span.attributes, span.start = attrs, _time_ns()
        return span

    def _start_sdk(self, destination: str, message_id: str) -> MessageSpan:
        name, base = self._named(destination)
        try:
            sdk = self._slow_tracer.start_span(name, context=self._parent_context, kind=_PRODUCER,
                                               attributes={**base, "messaging.message.id": message_id})
        except Exception:  # noqa: BLE001
            sdk = trace.INVALID_SPAN
        headers = inject_span({}, sdk)
        span = MessageSpan(headers.get("traceparent"), headers.get("tracestate"))
        span.sdk_span = sdk
        return span

    def end(self, span: MessageSpan, attributes: Mapping[str, Any] | None = None, *, error: BaseException | None = None) -> None:
        """End ``span`` now (its message was acknowledged, or failed with ``error``), adding ``attributes``."""
        try:
            if span.sdk_span is not None:
                end_span(span.sdk_span, error, **(attributes or {}))
            elif span.start:
                self._end(span, error, attributes)
        except Exception:  # noqa: BLE001 - telemetry never breaks delivery
            pass

    def _end(self, span: MessageSpan, error: BaseException | None, extra: Mapping[str, Any] | None) -> None:
        tracer = self._tracer
        if tracer is None:
            return
        attrs = span.attributes  # this span's own dict (see `_start`)
        if extra:
            attrs.update(extra)
        status = _UNSET if error is None else Status(StatusCode.ERROR, type(error).__name__)
        context = SpanContext(span.trace_id, span.span_id, False, _FLAGS[span.flags], span.trace_state)
        tracer.span_processor.on_end(ReadableSpan(
            name=span.name, context=context, parent=self._parent, resource=tracer.resource, attributes=attrs,
            kind=_PRODUCER, status=status, start_time=span.start, end_time=_time_ns(), instrumentation_scope=self._scope,
        ))


_FLAGS = {flags: TraceFlags(flags) for flags in range(4)}
_UNSET = Status(StatusCode.UNSET)


def _root_ratio(sampler: Any) -> tuple[int, int] | None:
    """(limit, bound) when ``sampler`` is exactly the SDK's parent-based ratio sampler (samband's default).

    For a span without a parent its decision is ``trace_id & limit < bound``, with the
    attributes kept and no trace state; any other sampler is asked on every span.
    """
    root = getattr(sampler, "_root", None) if type(sampler) is ParentBased else None
    if type(root) is not TraceIdRatioBased:
        return None
    return root.TRACE_ID_LIMIT, root.bound
