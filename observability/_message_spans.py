"""Spans for messages handled in batches (an adapter's publishes, the router's routing), at a fraction
of the SDK's per-span cost.

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

`Spans` is that for any span with an explicit parent (the router's process, decide and deliver
spans, which through the SDK were a third of the router's time); for a child of a parent-based
sampler with its default delegates the decision is the parent's sampled flag, as the SDK
decides it. `Spans.batch` is one span for an operation on a batch of messages (the router's
audit append: one bundle for a batch of records), as the OTel messaging conventions have batch
operations: a span of its own, linked to the context of each message it carries, recorded when
one of those is sampled. `ProducerSpans` names the adapter's PRODUCER spans on top of it.

What it reads of the SDK is read through `_otel_shim` (the gain measured there). When the
installed provider is not the SDK's (no tracing configured: no span, no header) or the fast path
fails, the SDK's own `start_span` is used. Telemetry never breaks
delivery: nothing here raises.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from ._otel_shim import FastTracer, fast_tracer, follows_parent, root_ratio
from ._tracing import TRACER_NAME, end_span, get_tracer, inject_span, messaging_attributes

__all__ = ["MessageSpan", "ProducerSpans", "Spans"]

_PRODUCER = SpanKind.PRODUCER
_time_ns = time.time_ns
_ROOT = otel_context.Context()  # an empty context: a span started in it has no parent


class MessageSpan:
    """One span: its ``traceparent`` (and ``tracestate``) for the headers, its `context` for children;
    ended with `Spans.end`."""

    __slots__ = (
        "_context",
        "_traceparent",
        "_tracestate",
        "attributes",
        "flags",
        "kind",
        "links",
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
        self.trace_state: TraceState | None = None
        self.start = 0  # 0: not recording (unsampled), nothing to export
        self.sdk_span: trace.Span | None = None
        self._context: SpanContext | None = None
        # set only on a recording span (see `Spans._start`)
        self.name = ""
        self.kind = SpanKind.INTERNAL
        self.parent: SpanContext | None = None
        self.attributes: dict[str, Any] = {}
        self.links: tuple[SpanContext, ...] = ()

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
        self._fast: FastTracer | None = fast_tracer(provider, TRACER_NAME)
        self._ratio: tuple[int, int] | None = None
        self._by_parent = False
        if self._fast is not None:
            self._ratio = root_ratio(self._fast.sampler)
            self._by_parent = follows_parent(self._fast.sampler)
        self._named: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}  # (operation, destination)
        # the SDK path: the process's cached tracer, or the given provider's
        self._slow_tracer = (
            get_tracer() if provider is trace.get_tracer_provider() else provider.get_tracer(TRACER_NAME)
        )

    @property
    def fast(self) -> bool:
        """Whether spans take the fast path (the SDK's internals, through `_otel_shim`)."""
        return self._fast is not None

    def start(self, name: str, kind: SpanKind, parent: SpanContext | None, attributes: dict[str, Any]) -> MessageSpan:
        """A span starting now; ``attributes`` becomes the span's own (`end` adds to it)."""
        if self._fast is not None:
            try:
                return self._start(self._fast, name, kind, parent, attributes)
            except Exception:
                self._fast = None
        return self._start_sdk(name, kind, parent, attributes)

    def _start(
        self, fast: FastTracer, name: str, kind: SpanKind, parent: SpanContext | None, attrs: dict[str, Any]
    ) -> MessageSpan:
        state: TraceState | None = None
        if parent is None:
            trace_id = fast.new_trace_id()
            random_id = fast.random_root
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
            result = fast.sampler.should_sample(ctx, trace_id, name, kind, attrs)
            sampled, recording = result.decision.is_sampled(), result.decision.is_recording()
            attrs, state = dict(result.attributes or {}), result.trace_state
        flags = (1 if sampled else 0) | (2 if random_id else 0)
        span_id = fast.new_span_id()
        span = MessageSpan()
        span.trace_id, span.span_id, span.flags, span.trace_state = trace_id, span_id, flags, state
        if recording:
            span.name, span.kind, span.parent = name, kind, parent
            span.attributes, span.start = attrs, _time_ns()
        return span

    def batch(
        self, name: str, kind: SpanKind, members: Iterable[SpanContext | None], attributes: dict[str, Any]
    ) -> MessageSpan:
        """One span for an operation on many messages (OTel messaging conventions, batch operations):
        a root span linked to each member's context that is sampled, and recorded only when one is
        (so a 1% sampled router records an append span for the batches that carry a sampled record)."""
        links = tuple({c.span_id: c for c in members if c is not None and c.trace_flags.sampled}.values())
        if not links:
            return MessageSpan()  # nothing in it is traced: no span
        fast = self._fast
        if fast is not None:
            try:
                span = MessageSpan()
                span.trace_id, span.span_id = fast.new_trace_id(), fast.new_span_id()
                span.flags = 1 | (2 if fast.random_root else 0)
                span.name, span.kind, span.attributes, span.links = name, kind, attributes, links
                span.start = _time_ns()
                return span
            except Exception:
                self._fast = None
        return self._start_sdk(name, kind, None, attributes, links)

    def _start_sdk(
        self,
        name: str,
        kind: SpanKind,
        parent: SpanContext | None,
        attrs: dict[str, Any],
        links: tuple[SpanContext, ...] = (),
    ) -> MessageSpan:
        ctx = _ROOT if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
        try:
            sdk = self._slow_tracer.start_span(
                name, context=ctx, kind=kind, attributes=attrs, links=[Link(c) for c in links] or None
            )
        except Exception:
            sdk = trace.INVALID_SPAN
        headers = inject_span({}, sdk)
        span = MessageSpan(headers.get("traceparent"), headers.get("tracestate"))
        span.sdk_span = sdk
        own = sdk.get_span_context()
        if own.is_valid:
            span.trace_id, span.span_id, span.flags, span.trace_state = (
                own.trace_id,
                own.span_id,
                int(own.trace_flags),
                own.trace_state,
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
        named = self._named.get((operation, destination))
        if named is None:  # a router delivers to a few dozen inbox subjects: name and attributes made once each
            if len(self._named) > 4096:
                self._named.clear()
            named = self._named[operation, destination] = (
                f"{operation} {destination}",
                messaging_attributes(operation, destination, None, None),
            )
        attrs = named[1].copy()
        if message_id:
            attrs["messaging.message.id"] = message_id
        if attributes:
            attrs.update(attributes)
        return self.start(named[0], kind, parent, attrs)

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
        tracer = self._fast
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
                instrumentation_scope=tracer.scope,
                links=[Link(c) for c in span.links] if span.links else (),
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
            attrs = messaging_attributes("send", destination, None, self._extra)
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
