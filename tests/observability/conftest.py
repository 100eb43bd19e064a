from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from samband.observability import configure_tracing


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """Every span of the session lands here too (the process has one tracer provider)."""
    exporter = InMemorySpanExporter()
    configure_tracing("samband-tests", processors=[SimpleSpanProcessor(exporter)], exporter="none")
    return exporter


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    span_exporter.clear()
    return span_exporter


@pytest.fixture
async def log_dep(fresh_deployment):
    """A provisioned deployment whose audit log is empty (test_audit_reading's own fills it)."""
    await fresh_deployment.provision()
    return fresh_deployment
