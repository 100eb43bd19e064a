"""Spans for messages handled in batches (an adapter's publishes, the router's routing), at a fraction of the SDK's per-span cost.

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

`Spans` is that for any span with an explicit parent (the router's process, decide, audit
append and deliver spans: four per record, which through the SDK were a third of the
router's time); for a child of a parent-based sampler with its default delegates the
decision is the parent's sampled flag, as the SDK decides it. `ProducerSpans` names the
adapter's PRODUCER spans on top of it.

When the installed provider is not the SDK's (no tracing configured: no span, no header) or
the fast path fails, the SDK's own `start_span` is used. Telemetry never breaks
delivery: nothing here raises.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._tracing import _TRACER_NAME, _attrs, end_span, get_tracer, inject_span

__all__ = ["MessageSpan", "ProducerSpans", "Spans"]

_PRODUCER = SpanKind.PRODUCER
_time_ns = time.time_ns
_ROOT = otel_context.Context()  # an empty context: a span started in it has no parent


class MessageSpan:
    """One span: its ``traceparent`` (and ``tracestate``) for the headers, its `context` for children; ended with `Spans.end`."""

    __slots__ = (
        "_context",
        "_traceparent",
        "_tracestate",
        "attributes",
        "flags",
        "kind",
        "name",
        "parent",
        "sdk_span",
        "span_id",
        "start",
        "trace_id",
        "trace_state",
    )

    def __init__(self, traceparent: str | None = None, tracestate: str | None = None) -> None:
        self._traceparent, self._tracestate = traceparent, tracestate
        self.trace_id = self.span_id = self.flags = 0  # trace id 0: no trace (tracing not configured)
        self.trace_state = None
        self.start = 0  # 0: not recording (unsampled), nothing to export
        self.sdk_span: trace.Span | None = None
        self._context: SpanContext | None = None

    # Formatted when first asked: most of the router's spans (process, decide, audit append)
    # never travel in headers, and the format is a few µs per span on this VM.
    @property
    def traceparent(self) -> str | None:
        if self._traceparent is None and self.trace_id and self.sdk_span is None:
            self._traceparent = f"00-{self.trace_id:032x}-{self.span_id:016x}-{self.flags:02x}"
        return self._traceparent

    @property
    def tracestate(self) -> str | None:
        if self._tracestate is None and self.trace_state:
            self._tracestate = self.trace_state.to_header()
        return self._tracestate

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` with this span's trace context added."""
        traceparent = self.traceparent
        if traceparent:
            headers["traceparent"] = traceparent
            tracestate = self.tracestate
            if tracestate:
                headers["tracestate"] = tracestate
        return headers

    @property
    def context(self) -> SpanContext | None:
        """This span's context, to start children under (sampled or not), or None without a trace."""
        if self.sdk_span is not None:
            ctx = self.sdk_span.get_span_context()
            return ctx if ctx.is_valid else None
        if not self.trace_id:
            return None
        if self._context is None:  # made once: every child of this span, and its own end, use it
            self._context = SpanContext(self.trace_id, self.span_id, False, _FLAGS[self.flags], self.trace_state)
        return self._context


class Spans:
    """Spans with explicit parents, started and ended by the caller (never made current)."""

    def __init__(self, provider: Any = None) -> None:
        provider = provider if provider is not None else trace.get_tracer_provider()
        self._tracer = None
        self._ratio: tuple[int, int] | None = None
        self._by_parent = False
        if isinstance(provider, TracerProvider):
            try:
                tracer = provider.get_tracer(_TRACER_NAME)
                if getattr(tracer, "_is_enabled", lambda: True)():
                    self._scope = getattr(tracer, "_instrumentation_scope", None)
                    ids = tracer.id_generator
                    self._new_trace_id, self._new_span_id = ids.generate_trace_id, ids.generate_span_id
                    self._random_root = ids.is_trace_id_random()
                    self._ratio = _root_ratio(tracer.sampler)
                    self._by_parent = _follows_parent(tracer.sampler)
                    tracer.span_processor, tracer.resource  # noqa: B018 - what `_end` needs, there
                    self._tracer = tracer
            except Exception:
                self._tracer = None
        # the SDK path: the process's cached tracer, or the given provider's
        self._slow_tracer = (
            get_tracer() if provider is trace.get_tracer_provider() else provider.get_tracer(_TRACER_NAME)
        )

    def start(self, name: str, kind: SpanKind, parent: SpanContext | None, attributes: dict[str, Any]) -> MessageSpan:
        """A span starting now; ``attributes`` becomes the span's own (`end` adds to it)."""
        if self._tracer is not None:
            try:
                return self._start(name, kind, parent, attributes)
            except Exception:
                self._tracer = None
        return self._start_sdk(name, kind, parent, attributes)

    def _start(self, name: str, kind: SpanKind, parent: SpanContext | None, attrs: dict[str, Any]) -> MessageSpan:
        state = None
        if parent is None:
            trace_id = self._new_trace_id()
            random_id = self._random_root
            if self._ratio is not None:  # the default sampler on a root span: its decision, without its call chain
                limit, bound = self._ratio
                recording = sampled = trace_id & limit < bound
                decided = True
            else:
                decided = False
        else:
            trace_id = parent.trace_id
            random_id = parent.trace_flags.random_trace_id
            decided = self._by_parent
            if decided:  # a parent-based sampler with its default delegates: the parent's flag decides
                recording = sampled = parent.trace_flags.sampled
                state = parent.trace_state or None
        if not decided:
            ctx = _ROOT if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
            result = self._tracer.sampler.should_sample(ctx, trace_id, name, kind, attrs)  # type: ignore[union-attr]
            sampled, recording = result.decision.is_sampled(), result.decision.is_recording()
            attrs, state = dict(result.attributes or {}), result.trace_state
        flags = (1 if sampled else 0) | (2 if random_id else 0)
        span_id = self._new_span_id()
        span = MessageSpan()
        span.trace_id, span.span_id, span.flags, span.trace_state = trace_id, span_id, flags, state
        if recording:
            span.name, span.kind, span.parent = name, kind, parent
            span.attributes, span.start = attrs, _time_ns()
        return span

    def _start_sdk(self, name: str, kind: SpanKind, parent: SpanContext | None, attrs: dict[str, Any]) -> MessageSpan:
        ctx = _ROOT if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
        try:
            sdk = self._slow_tracer.start_span(name, context=ctx, kind=kind, attributes=attrs)
        except Exception:
            sdk = trace.INVALID_SPAN
        headers = inject_span({}, sdk)
        span = MessageSpan(headers.get("traceparent"), headers.get("tracestate"))
        span.sdk_span = sdk
        ctx = sdk.get_span_context()
        if ctx.is_valid:
            span.trace_id, span.span_id, span.flags, span.trace_state = (
                ctx.trace_id,
                ctx.span_id,
                int(ctx.trace_flags),
                ctx.trace_state,
            )
        return span

    def messaging(
        self,
        operation: str,
        destination: str,
        kind: SpanKind,
        parent: SpanContext | None,
        *,
        message_id: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> MessageSpan:
        """A messaging-convention span ``{operation} {destination}`` (``send``: PRODUCER, ``process``: CONSUMER)."""
        return self.start(
            f"{operation} {destination}", kind, parent, _attrs(operation, destination, message_id, attributes)
        )

    def end(
        self, span: MessageSpan, attributes: Mapping[str, Any] | None = None, *, error: BaseException | None = None
    ) -> None:
        """End ``span`` now (its message was acknowledged, or failed with ``error``), adding ``attributes``."""
        try:
            if span.sdk_span is not None:
                end_span(span.sdk_span, error, **(attributes or {}))
            elif span.start:
                self._end(span, error, attributes)
        except Exception:
            pass

    def _end(self, span: MessageSpan, error: BaseException | None, extra: Mapping[str, Any] | None) -> None:
        tracer = self._tracer
        if tracer is None:
            return
        attrs = span.attributes  # this span's own dict (see `_start`)
        if extra:
            attrs.update(extra)
        status = _UNSET if error is None else Status(StatusCode.ERROR, type(error).__name__)
        tracer.span_processor.on_end(
            ReadableSpan(
                name=span.name,
                context=span.context,
                parent=span.parent,
                resource=tracer.resource,
                attributes=attrs,
                kind=span.kind,
                status=status,
                start_time=span.start,
                end_time=_time_ns(),
                instrumentation_scope=self._scope,
            )
        )


class ProducerSpans:
    """PRODUCER spans ``send {destination}`` for many messages; the parent is the context current at creation."""

    def __init__(self, attributes: Mapping[str, Any] | None = None, *, provider: Any = None) -> None:
        self._extra = dict(attributes or {})
        self._names: dict[str, tuple[str, dict[str, Any]]] = {}
        parent = trace.get_current_span().get_span_context()
        self._parent = parent if parent.is_valid else None
        self._spans = Spans(provider)
        self.end = self._spans.end

    def _named(self, destination: str) -> tuple[str, dict[str, Any]]:
        named = self._names.get(destination)
        if named is None:
            attrs = {
                "messaging.system": "nats",
                "messaging.operation.name": "send",
                "messaging.destination.name": destination,
            }
            attrs.update(self._extra)
            named = self._names[destination] = (f"send {destination}", attrs)
        return named

    def start(self, destination: str, message_id: str) -> MessageSpan:
        """The span of one message published now to ``destination``."""
        name, base = self._named(destination)
        attrs = base.copy()
        attrs["messaging.message.id"] = message_id
        return self._spans.start(name, _PRODUCER, self._parent, attrs)


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


def _follows_parent(sampler: Any) -> bool:
    """True when ``sampler`` is the SDK's parent-based sampler with its default delegates for a parent."""
    if type(sampler) is not ParentBased:
        return False
    return (
        getattr(sampler, "_remote_parent_sampled", None) is ALWAYS_ON
        and getattr(sampler, "_local_parent_sampled", None) is ALWAYS_ON
        and getattr(sampler, "_remote_parent_not_sampled", None) is ALWAYS_OFF
        and getattr(sampler, "_local_parent_not_sampled", None) is ALWAYS_OFF
    )
