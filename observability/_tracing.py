"""OpenTelemetry: set-up, W3C trace context in NATS headers, messaging-convention spans.

Span names and attributes follow the OTel messaging semantic conventions
(``{operation} {destination}``, PRODUCER for a publish, CONSUMER for a receive/process),
in the manner of opentelemetry-instrumentation-aio-pika's span builder. Telemetry never
raises on the hot path: propagation failures are swallowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "configure_tracing",
    "get_tracer",
    "inject_headers",
    "extract_context",
    "producer_span",
    "consumer_span",
    "SpanKind",
]

_propagator = TraceContextTextMapPropagator()
_TRACER_NAME = "samband"


def configure_tracing(
    service_name: str,
    *,
    processors: list[SpanProcessor] | None = None,
    sample_ratio: float = 1.0,
) -> TracerProvider:
    """Install a tracer provider. OTLP is used when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the
    exporter package is installed; otherwise spans are created (ids reach logs and headers) but not exported."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    for p in processors or []:
        provider.add_span_processor(p)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            pass
    trace.set_tracer_provider(provider)
    return provider


def get_tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Write the current span's ``traceparent``/``tracestate`` into NATS headers."""
    try:
        _propagator.inject(headers)
    except Exception:  # noqa: BLE001 - telemetry never breaks delivery
        pass
    return headers


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context | None:
    if not headers:
        return None
    try:
        return _propagator.extract(dict(headers))
    except Exception:  # noqa: BLE001
        return None


def _attrs(operation: str, destination: str, message_id: str | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "messaging.system": "nats",
        "messaging.operation.name": operation,
        "messaging.destination.name": destination,
    }
    if message_id:
        attrs["messaging.message.id"] = message_id
    if extra:
        attrs.update(extra)
    return attrs


@contextmanager
def producer_span(destination: str, *, message_id: str | None = None, attributes: Mapping[str, Any] | None = None) -> Iterator[trace.Span]:
    """A PRODUCER span named ``send {destination}``."""
    with get_tracer().start_as_current_span(
        f"send {destination}", kind=SpanKind.PRODUCER,
        attributes=_attrs("send", destination, message_id, attributes),
    ) as span:
        yield span


@contextmanager
def consumer_span(
    destination: str, headers: Mapping[str, str] | None, *, message_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span named ``process {destination}``, child of the context in the message headers."""
    with get_tracer().start_as_current_span(
        f"process {destination}", context=extract_context(headers), kind=SpanKind.CONSUMER,
        attributes=_attrs("process", destination, message_id, attributes),
    ) as span:
        yield span
