"""samband.observability: logs, traces and the audit trail. Depends on `samband.schemas` only."""

from ._audit import AUDIT_DECODER, GENESIS, PREV_SLICE, AuditChain, AuditRecord
from ._errors import AuditKeyError, AuditUnavailable, ObservabilityError
from ._logging import configure_logging, get_logger, scrub_identifiers
from ._pseudonym import Pseudonymiser, load_or_create_key
from ._tracing import (
    SpanKind,
    configure_tracing,
    consumer_span,
    extract_context,
    get_tracer,
    inject_headers,
    producer_span,
)

__all__ = [
    "AUDIT_DECODER", "GENESIS", "PREV_SLICE", "AuditChain", "AuditKeyError", "AuditRecord",
    "AuditUnavailable", "ObservabilityError", "Pseudonymiser", "SpanKind", "configure_logging",
    "configure_tracing", "consumer_span", "extract_context", "get_logger", "get_tracer",
    "inject_headers", "load_or_create_key", "producer_span", "scrub_identifiers",
]
