"""samband.observability.audit: the audit log, a verifiable log of every routing decision.

One entry per decision (`AuditRecord`), appended by the one writer (`Appender`, which the
router calls, holding a lease) in bundles, as the leaves of an RFC 9162 Merkle tree whose
signed checkpoints (C2SP signed notes, Ed25519) are cosigned by agency witnesses; verified
from the stored bytes, read per agency with inclusion proofs, indexed for queries, exported
for offline checking and reconciled against the recipients' receipts. See docs/audit.md.
"""

from inspect import isfunction

from msgspec import Struct

from ._appender import LOOKUP_BIND_EVERY, RECENT_AUDITED, Appender, AuditAppender, AuditDraft
from ._batch import PART_BYTES, build_batch, chain
from ._bundle import (
    BUNDLE_FORMAT,
    VIEW_FORMAT,
    BundleHeader,
    TreeTile,
    ViewHeader,
    decode_bundle,
    decode_tree,
    decode_view,
    encode_bundle,
    encode_tree,
    encode_view,
)
from ._checkpoint import (
    PUBLIC_KEY_FILE,
    SIGNING_KEY_FILE,
    VKEY_FILE,
    Checkpoint,
    LogKey,
    load_or_create_signing_key,
    load_public_key,
    load_verifier,
    open_checkpoint,
    origin_of,
    public_key_pem,
)
from ._cosign import (
    WitnessKey,
    cosignature_message,
    ensure_witness_key,
    load_witness_key,
    load_witness_verifiers,
    verify_cosignatures,
    witness_name,
    witness_of,
    witness_state_path,
)
from ._entry import (
    ENTRY_DECODER,
    MAX_LISTED,
    AuditRecord,
    Authority,
    Entry,
    Incident,
    Lookup,
    encode_entry,
    entry_key,
    lookup_key,
)
from ._errors import AuditError, AuditUnavailable, BundleError, LeaseLost, NoteError
from ._export import EXPORT_FORMAT, Export, ExportError, ExportHeader, read_export, verify_export, write_export
from ._index import AuditFilters, AuditIndex
from ._indexed import catch_up, indexed_query
from ._lease import FENCE_AFTER, LEASE_TTL, POLL, RENEW_EVERY, Lease, LeaseHolder
from ._lookups import (
    LOOKUP_ACK_WAIT,
    LOOKUP_ACTIONS,
    LOOKUPS_CONFIG,
    MAX_LOOKUP_BYTES,
    LookupIntake,
    LookupRequest,
    record_lookup,
)
from ._note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Note,
    NoteSignature,
    Verifier,
    format_note,
    key_id,
    open_note,
    parse_note,
)
from ._note import sign as sign_note
from ._paging import MAX_PAGE, Inclusion, Page, Timeline, inclusion, lookup_page, neighbours, page, timeline
from ._proof import consistency_proof, inclusion_proof, verify_consistency, verify_inclusion
from ._reading import ViewData, log_from_messages, read_cosignatures, read_log, read_view
from ._reconcile import Gap, Reconciliation, reconcile
from ._resume import LogState, audited_after, consistent, recent_keys, resume
from ._selection import write_selection
from ._store import IndexStore, TrailProblem, index_dir
from ._stream import Batch, Foreign, scan
from ._subset import SubsetResult, verify_subset
from ._tree import EMPTY_ROOT, CompactRange, TreeLevels, leaf_hash, leaf_hashes, node_hash, root_of
from ._verbs import Seen, export_online, pinned_verifier, query_online, verify_online, witness_keys
from ._verify import LogData, Problem, VerifyResult, cosigned_by, verify_log
from ._witness import Witness, WitnessAlarm, WitnessState

__all__ = [
    "BUNDLE_FORMAT",
    "EMPTY_ROOT",
    "ENTRY_DECODER",
    "EXPORT_FORMAT",
    "FENCE_AFTER",
    "LEASE_TTL",
    "LOOKUPS_CONFIG",
    "LOOKUP_ACK_WAIT",
    "LOOKUP_ACTIONS",
    "LOOKUP_BIND_EVERY",
    "MAX_LISTED",
    "MAX_LOOKUP_BYTES",
    "MAX_PAGE",
    "PART_BYTES",
    "POLL",
    "PUBLIC_KEY_FILE",
    "RECENT_AUDITED",
    "RENEW_EVERY",
    "SIGNING_KEY_FILE",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "VIEW_FORMAT",
    "VKEY_FILE",
    "Appender",
    "AuditAppender",
    "AuditDraft",
    "AuditError",
    "AuditFilters",
    "AuditIndex",
    "AuditRecord",
    "AuditUnavailable",
    "Authority",
    "Batch",
    "BundleError",
    "BundleHeader",
    "Checkpoint",
    "CompactRange",
    "Entry",
    "Export",
    "ExportError",
    "ExportHeader",
    "Foreign",
    "Gap",
    "Incident",
    "Inclusion",
    "IndexStore",
    "Lease",
    "LeaseHolder",
    "LeaseLost",
    "LogData",
    "LogKey",
    "LogState",
    "Lookup",
    "LookupIntake",
    "LookupRequest",
    "Note",
    "NoteError",
    "NoteSignature",
    "Page",
    "Problem",
    "Reconciliation",
    "Seen",
    "SubsetResult",
    "Timeline",
    "TrailProblem",
    "TreeLevels",
    "TreeTile",
    "Verifier",
    "VerifyResult",
    "ViewData",
    "ViewHeader",
    "Witness",
    "WitnessAlarm",
    "WitnessKey",
    "WitnessState",
    "audited_after",
    "build_batch",
    "catch_up",
    "chain",
    "consistency_proof",
    "consistent",
    "cosignature_message",
    "cosigned_by",
    "decode_bundle",
    "decode_tree",
    "decode_view",
    "encode_bundle",
    "encode_entry",
    "encode_tree",
    "encode_view",
    "ensure_witness_key",
    "entry_key",
    "export_online",
    "format_note",
    "inclusion",
    "inclusion_proof",
    "index_dir",
    "indexed_query",
    "key_id",
    "leaf_hash",
    "leaf_hashes",
    "load_or_create_signing_key",
    "load_public_key",
    "load_verifier",
    "load_witness_key",
    "load_witness_verifiers",
    "log_from_messages",
    "lookup_key",
    "lookup_page",
    "neighbours",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "origin_of",
    "page",
    "parse_note",
    "pinned_verifier",
    "public_key_pem",
    "query_online",
    "read_cosignatures",
    "read_export",
    "read_log",
    "read_view",
    "recent_keys",
    "reconcile",
    "record_lookup",
    "resume",
    "root_of",
    "scan",
    "sign_note",
    "timeline",
    "verify_consistency",
    "verify_cosignatures",
    "verify_export",
    "verify_inclusion",
    "verify_log",
    "verify_online",
    "verify_subset",
    "witness_keys",
    "witness_name",
    "witness_of",
    "witness_state_path",
    "write_export",
    "write_selection",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct)):
        _obj.__module__ = __name__
