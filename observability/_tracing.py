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


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def configure_tracing(
    service_name: str,
    *,
    processors: list[SpanProcessor] | None = None,
    sample_ratio: float | None = None,
    exporter: str | None = None,
) -> TracerProvider:
    """Install a tracer provider (once per process; later calls add their processors to it).

    The standard OpenTelemetry environment variables work as the spec says (docs/operating.md,
    "Traces"): ``OTEL_SDK_DISABLED=true`` makes every span a no-op; ``OTEL_SERVICE_NAME`` (or
    ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) names the service instead of
    ``service_name``; ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` choose the sampler
    (else ``SAMBAND_TRACE_RATIO``, a parent-based ratio, default 1.0; ``sample_ratio`` overrides
    both); ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``, comma-separated) chooses the
    exporters, and when it is unset spans go to OTLP as soon as an endpoint is set
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, to which ``/v1/traces`` is added, or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, used as it is), and nowhere otherwise (samband does
    not send to a collector no one configured). OTLP is HTTP/protobuf, installed with samband.
    Without an exporter spans are still made, so their ids reach logs, headers and audit records.
    The audit trail is never sampled.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        for p in processors or []:
            current.add_span_processor(p)
        return current
    named = _env("OTEL_SERVICE_NAME") or "service.name=" in _env("OTEL_RESOURCE_ATTRIBUTES")
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself
    resource = Resource.create({} if named else {"service.name": service_name})
    sampler: Any = None  # None: the SDK reads OTEL_TRACES_SAMPLER(_ARG)
    if sample_ratio is not None or not _env("OTEL_TRACES_SAMPLER"):
        ratio = sample_ratio if sample_ratio is not None else float(_env("SAMBAND_TRACE_RATIO") or "1.0")
        sampler = ParentBased(TraceIdRatioBased(ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)  # a no-op under OTEL_SDK_DISABLED=true
    for p in processors or []:
        provider.add_span_processor(p)
    if _env("OTEL_SDK_DISABLED").lower() != "true":
        for name in _exporters(exporter):
            _add_exporter(provider, name)
    trace.set_tracer_provider(provider)
    return provider


def _exporters(exporter: str | None) -> list[str]:
    if exporter is None:
        exporter = _env("OTEL_TRACES_EXPORTER")
    if not exporter:
        endpoint = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT")
        exporter = "otlp" if endpoint else "none"
    return [e.strip().lower() for e in exporter.split(",") if e.strip() and e.strip().lower() != "none"]


def _add_exporter(provider: TracerProvider, name: str) -> None:
    log = logging.getLogger(__name__)
    if name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif name == "otlp":
        protocol = _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
        if protocol != "http/protobuf":
            log.warning(
                "spans are not exported: OTLP protocol %r is not installed (samband exports http/protobuf)", protocol
            )
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        log.warning("spans are not exported: unknown OTEL_TRACES_EXPORTER %r (otlp, console or none)", name)


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
