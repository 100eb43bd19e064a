"""OpenTelemetry: set-up, W3C trace context in NATS headers, messaging-convention spans.

Span names and attributes follow the OTel messaging semantic conventions
(``{operation} {destination}``, PRODUCER for a publish, CONSUMER for a receive/process),
in the manner of opentelemetry-instrumentation-aio-pika's span builder. Telemetry never
raises on the hot path: propagation failures are swallowed.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "SpanKind",
    "configure_tracing",
    "consumer_span",
    "end_span",
    "extract_context",
    "get_tracer",
    "inject_headers",
    "inject_span",
    "producer_span",
    "remote_parent",
]

_propagator = TraceContextTextMapPropagator()
TRACER_NAME = "samband"


def configure_tracing(
    service_name: str,
    *,
    processors: list[SpanProcessor] | None = None,
    sample_ratio: float | None = None,
    exporter: str | None = None,
) -> TracerProvider:
    """Install a tracer provider (once per process; later calls add their processors to it).

    ``exporter`` (default: env ``OTEL_TRACES_EXPORTER``, else ``otlp`` when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else ``none``): ``otlp`` needs the
    opentelemetry-exporter-otlp package; ``console`` prints spans; ``none`` still creates spans,
    so their ids reach logs, headers and audit records. The ratio (default: env
    ``SAMBAND_TRACE_RATIO``, else 1.0) samples whole traces; the audit trail is never sampled.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        for p in processors or []:
            current.add_span_processor(p)
        return current
    if sample_ratio is None:
        sample_ratio = float(os.environ.get("SAMBAND_TRACE_RATIO", "1.0"))
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    for p in processors or []:
        provider.add_span_processor(p)
    if exporter is None:
        exporter = os.environ.get("OTEL_TRACES_EXPORTER") or (
            "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "none"
        )
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            logging.getLogger(__name__).warning(
                "OTLP requested but opentelemetry-exporter-otlp is not installed; spans are not exported"
            )
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


@functools.cache
def get_tracer() -> trace.Tracer:
    # One tracer for the process, as OTel advises: the SDK's get_tracer builds a scope and a tracer
    # on every call, which was a tenth of the router's and the adapter's time (samband bench profile).
    # Before a provider is installed this is OTel's proxy tracer, which follows the provider later.
    return trace.get_tracer(TRACER_NAME)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Write the current span's ``traceparent``/``tracestate`` into NATS headers."""
    try:
        _propagator.inject(headers)
    except Exception:
        pass
    return headers


# A version-00 traceparent: the common case, read without the propagator's getter and copies.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def remote_parent(headers: Mapping[str, str] | None) -> SpanContext | None:
    """The sender's span context in NATS headers (W3C ``traceparent``/``tracestate``), or None."""
    if not headers:
        return None
    try:
        tp = headers.get("traceparent")
        if tp is None:
            return None
        m = _TRACEPARENT.fullmatch(tp)
        if m is not None and "tracestate" not in headers:
            # the common case, read without the propagator's getter and copies
            tid, sid = int(m[1], 16), int(m[2], 16)
            if tid and sid:
                return SpanContext(tid, sid, is_remote=True, trace_flags=TraceFlags(int(m[3], 16)))
            return None
        ctx = trace.get_current_span(_propagator.extract(dict(headers))).get_span_context()
        return ctx if ctx.is_valid else None
    except Exception:
        return None


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context | None:
    """The remote parent in NATS headers as a context to start a span in, or None."""
    parent = remote_parent(headers)
    return None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))


# The conventions' operation types for the operation names samband uses.
_OPERATION_TYPES = {"send": "send", "process": "process", "receive": "receive", "settle": "settle"}


def messaging_attributes(
    operation: str, destination: str, message_id: str | None, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A messaging span's attributes per the OTel messaging conventions (nats, the operation's name
    and type, the destination, the message id), with ``extra`` added."""
    attrs: dict[str, Any] = {
        "messaging.system": "nats",
        "messaging.operation.name": operation,
        "messaging.operation.type": _OPERATION_TYPES.get(operation, operation),
        "messaging.destination.name": destination,
    }
    if message_id:
        attrs["messaging.message.id"] = message_id
    if extra:
        attrs.update(extra)
    return attrs


@contextmanager
def producer_span(
    destination: str, *, message_id: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A PRODUCER span named ``send {destination}``."""
    with get_tracer().start_as_current_span(
        f"send {destination}",
        kind=SpanKind.PRODUCER,
        attributes=messaging_attributes("send", destination, message_id, attributes),
    ) as span:
        yield span


@contextmanager
def consumer_span(
    destination: str,
    headers: Mapping[str, str] | None,
    *,
    message_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span named ``process {destination}``, child of the context in the message headers."""
    with get_tracer().start_as_current_span(
        f"process {destination}",
        context=extract_context(headers),
        kind=SpanKind.CONSUMER,
        attributes=messaging_attributes("process", destination, message_id, attributes),
    ) as span:
        yield span


def end_span(span: trace.Span, error: BaseException | None = None, **attributes: Any) -> None:
    try:
        for k, v in attributes.items():
            span.set_attribute(k, v)
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
            span.record_exception(error)
        span.end()
    except Exception:
        pass


def inject_span(headers: dict[str, str], span: trace.Span) -> dict[str, str]:
    """Write ``span``'s context (not the current one) into NATS headers, formatted directly (hot path)."""
    try:
        ctx = span.get_span_context()
        if ctx.is_valid:
            headers["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
            if ctx.trace_state:
                headers["tracestate"] = ctx.trace_state.to_header()
    except Exception:
        pass
    return headers
