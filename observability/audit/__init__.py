"""samband.observability.audit: the audit log, a verifiable log of every routing decision.

One entry per decision (`AuditRecord`), appended by the one writer (`Appender`, which the
router calls, holding a lease) in bundles, as the leaves of an RFC 9162 Merkle tree whose
signed checkpoints (C2SP signed notes, Ed25519) are cosigned by agency witnesses; verified
from the stored bytes, read per agency with inclusion proofs, indexed for queries, exported
for offline checking and reconciled against the recipients' receipts. See docs/audit.md.
"""

from inspect import isfunction

from msgspec import Struct

from ._appender import RECENT_AUDITED, Appender, AuditAppender, AuditDraft
from ._batch import PART_BYTES, build_batch
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
from ._entry import ENTRY_DECODER, MAX_LISTED, AuditRecord, Entry, Incident, encode_entry, entry_key
from ._errors import AuditError, AuditUnavailable, BundleError, LeaseLost, NoteError
from ._lease import FENCE_AFTER, LEASE_TTL, POLL, RENEW_EVERY, Lease, LeaseHolder
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
from ._proof import consistency_proof, inclusion_proof, verify_consistency, verify_inclusion
from ._resume import LogState, audited_after, consistent, recent_keys, resume
from ._stream import Batch, Foreign, scan
from ._tree import EMPTY_ROOT, CompactRange, TreeLevels, leaf_hash, leaf_hashes, node_hash, root_of

__all__ = [
    "BUNDLE_FORMAT",
    "EMPTY_ROOT",
    "ENTRY_DECODER",
    "FENCE_AFTER",
    "LEASE_TTL",
    "MAX_LISTED",
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
    "AuditRecord",
    "AuditUnavailable",
    "Batch",
    "BundleError",
    "BundleHeader",
    "Checkpoint",
    "CompactRange",
    "Entry",
    "Foreign",
    "Incident",
    "Lease",
    "LeaseHolder",
    "LeaseLost",
    "LogKey",
    "LogState",
    "Note",
    "NoteError",
    "NoteSignature",
    "TreeLevels",
    "TreeTile",
    "Verifier",
    "ViewHeader",
    "WitnessKey",
    "audited_after",
    "build_batch",
    "consistency_proof",
    "consistent",
    "cosignature_message",
    "decode_bundle",
    "decode_tree",
    "decode_view",
    "encode_bundle",
    "encode_entry",
    "encode_tree",
    "encode_view",
    "ensure_witness_key",
    "entry_key",
    "format_note",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "leaf_hashes",
    "load_or_create_signing_key",
    "load_public_key",
    "load_verifier",
    "load_witness_key",
    "load_witness_verifiers",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "origin_of",
    "parse_note",
    "public_key_pem",
    "recent_keys",
    "resume",
    "root_of",
    "scan",
    "sign_note",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
    "witness_name",
    "witness_of",
    "witness_state_path",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct)):
        _obj.__module__ = __name__
