"""samband.observability: logs, traces and pseudonyms; the audit trail (`samband.observability.audit`)
and JetStream publishing and reading (`samband.observability.bus`) are its two sub-packages.
Depends on `samband.schemas` only."""

from inspect import isfunction

from msgspec import Struct

from ._cli_common import _when as iso_time_callback  # a --since/--until option's parser, for every CLI
from ._errors import AuditKeyError, ObservabilityError
from ._heap import settle_heap
from ._logging import LOG_LEVELS, configure_logging, get_logger, output_console, scrub_identifiers
from ._message_spans import MessageSpan, ProducerSpans, Spans
from ._metrics import MetricsEndpoint, MetricsError, metrics_port_option, observe, serve_metrics, timed
from ._pseudonym import Pseudonymiser, create_key_file, load_or_create_key
from ._tally import Tally
from ._tracing import (
    SpanKind,
    configure_tracing,
    consumer_span,
    end_span,
    extract_context,
    get_tracer,
    inject_headers,
    inject_span,
    messaging_attributes,
    producer_span,
    remote_parent,
)

__all__ = [
    "LOG_LEVELS",
    "AuditKeyError",
    "MessageSpan",
    "MetricsEndpoint",
    "MetricsError",
    "ObservabilityError",
    "ProducerSpans",
    "Pseudonymiser",
    "SpanKind",
    "Spans",
    "Tally",
    "configure_logging",
    "configure_tracing",
    "consumer_span",
    "create_key_file",
    "end_span",
    "extract_context",
    "get_logger",
    "get_tracer",
    "inject_headers",
    "inject_span",
    "iso_time_callback",
    "load_or_create_key",
    "messaging_attributes",
    "metrics_port_option",
    "observe",
    "output_console",
    "producer_span",
    "remote_parent",
    "scrub_identifiers",
    "serve_metrics",
    "settle_heap",
    "timed",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct) and _obj is not SpanKind):
        _obj.__module__ = __name__
