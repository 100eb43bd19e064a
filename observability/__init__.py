"""samband.observability: logs, traces, the audit trail, and traced JetStream publishing (one reply
subscription per connection). Depends on `samband.schemas` only."""

from ._acks import (
    AckPipeline,
    ConnectionClosed,
    NoAnswer,
    NoStream,
    NotConnected,
    NotSendable,
    PubAck,
    PublishBatch,
    PublishError,
    PublishRefused,
)
from ._audit import AUDIT_DECODER, GENESIS, PREV_SLICE, AuditChain, AuditRecord
from ._checkpoint import (
    CHECKPOINT_DECODER,
    PUBLIC_KEY_FILE,
    SIGNING_KEY_FILE,
    Checkpoint,
    checkpoint_signature_ok,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    public_key_pem,
    sign_checkpoint,
)
from ._checkpointer import Checkpointer
from ._errors import AuditKeyError, AuditUnavailable, ObservabilityError
from ._index import AuditIndex
from ._indexed import catch_up, indexed_query
from ._logging import configure_logging, get_logger, scrub_identifiers
from ._message_spans import MessageSpan, ProducerSpans, Spans
from ._pseudonym import Pseudonymiser, load_or_create_key
from ._reader import StreamGap, fetch_seqs, read_range
from ._reconcile import Gap, Reconciliation, reconcile
from ._store import INDEX_FILE, IndexStore, TrailProblem
from ._synthetic import SYNTHETIC_T0, synthetic_trail
from ._tracing import (
    SpanKind,
    configure_tracing,
    consumer_span,
    end_span,
    extract_context,
    get_tracer,
    inject_headers,
    inject_span,
    producer_span,
    remote_parent,
)
from ._trail import ExportError, Trail, read_export, read_stream, read_trail, slice_trail, write_export
from ._verify import Problem, VerifyResult, chain_head, record_seq, verify_bytes

__all__ = [
    "AUDIT_DECODER",
    "CHECKPOINT_DECODER",
    "GENESIS",
    "INDEX_FILE",
    "PREV_SLICE",
    "PUBLIC_KEY_FILE",
    "SIGNING_KEY_FILE",
    "SYNTHETIC_T0",
    "AckPipeline",
    "AuditChain",
    "AuditIndex",
    "AuditKeyError",
    "AuditRecord",
    "AuditUnavailable",
    "Checkpoint",
    "Checkpointer",
    "ConnectionClosed",
    "ExportError",
    "Gap",
    "IndexStore",
    "MessageSpan",
    "NoAnswer",
    "NoStream",
    "NotConnected",
    "NotSendable",
    "ObservabilityError",
    "Problem",
    "ProducerSpans",
    "Pseudonymiser",
    "PubAck",
    "PublishBatch",
    "PublishError",
    "PublishRefused",
    "Reconciliation",
    "SpanKind",
    "Spans",
    "StreamGap",
    "Trail",
    "TrailProblem",
    "VerifyResult",
    "catch_up",
    "chain_head",
    "checkpoint_signature_ok",
    "configure_logging",
    "configure_tracing",
    "consumer_span",
    "end_span",
    "extract_context",
    "fetch_seqs",
    "get_logger",
    "get_tracer",
    "indexed_query",
    "inject_headers",
    "inject_span",
    "key_id",
    "load_or_create_key",
    "load_or_create_signing_key",
    "load_public_key",
    "producer_span",
    "public_key_pem",
    "read_export",
    "read_range",
    "read_stream",
    "read_trail",
    "reconcile",
    "record_seq",
    "remote_parent",
    "scrub_identifiers",
    "sign_checkpoint",
    "slice_trail",
    "synthetic_trail",
    "verify_bytes",
    "write_export",
]
