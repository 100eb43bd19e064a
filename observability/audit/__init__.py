"""samband.observability.audit: the audit trail.

One record per decision, sealed into a hash chain by the one writer (`Appender`, which the
router calls), checkpointed with Ed25519 signatures (`Checkpointer`), verified from the stored
bytes (`verify_bytes`), indexed for queries (`IndexStore`, `indexed_query`), exported for offline
checking (`write_export`, `read_export`) and reconciled against the recipients' receipts.
"""

from inspect import isfunction

from msgspec import Struct

from ._appender import RECENT_AUDITED, Appender, AuditAppender, AuditDraft
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
from ._errors import AuditError, AuditUnavailable
from ._index import AuditFilters, AuditIndex
from ._indexed import catch_up, indexed_query
from ._reconcile import Gap, Reconciliation, reconcile
from ._record import AUDIT_DECODER, GENESIS, PREV_SLICE, AuditChain, AuditRecord
from ._store import INDEX_FILE, IndexStore, TrailProblem
from ._trail import ExportError, Trail, read_export, read_stream, read_trail, slice_trail, write_export
from ._verify import Problem, VerifyResult, chain_head, record_seq, verify_bytes

__all__ = [
    "AUDIT_DECODER",
    "CHECKPOINT_DECODER",
    "GENESIS",
    "INDEX_FILE",
    "PREV_SLICE",
    "PUBLIC_KEY_FILE",
    "RECENT_AUDITED",
    "SIGNING_KEY_FILE",
    "Appender",
    "AuditAppender",
    "AuditChain",
    "AuditDraft",
    "AuditError",
    "AuditFilters",
    "AuditIndex",
    "AuditRecord",
    "AuditUnavailable",
    "Checkpoint",
    "Checkpointer",
    "ExportError",
    "Gap",
    "IndexStore",
    "Problem",
    "Reconciliation",
    "Trail",
    "TrailProblem",
    "VerifyResult",
    "catch_up",
    "chain_head",
    "checkpoint_signature_ok",
    "indexed_query",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "public_key_pem",
    "read_export",
    "read_stream",
    "read_trail",
    "reconcile",
    "record_seq",
    "sign_checkpoint",
    "slice_trail",
    "verify_bytes",
    "write_export",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct)):
        _obj.__module__ = __name__
