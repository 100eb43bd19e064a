"""The audit trail: one canonical record per decision, chained by hash.

Each stored record is the exact bytes written; ``prev`` is its first field, so a verifier
reads the previous hash at a fixed offset without decoding (``{"prev":"<64 hex>",...``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib

import msgspec

from samband.schemas import Schema
from samband.schemas.layout import AUDIT_RECORD_PREV

__all__ = ["AUDIT_DECODER", "GENESIS", "PREV_SLICE", "AuditChain", "AuditRecord"]

GENESIS = "0" * 64
PREV_SLICE = AUDIT_RECORD_PREV  # where a stored record's ``prev`` is (schemas.layout)


class AuditRecord(Schema, frozen=True, omit_defaults=False, kw_only=True):
    """One decision about one (record, recipient). Subjects are keyed pseudonyms, never identifiers."""

    prev: str = GENESIS
    seq: int = 0
    at: _dt.datetime
    trace_id: str | None = None
    span_id: str | None = None
    envelope_id: str
    record_type: str
    origin: str
    recipient: str
    region: str
    operation: str
    decision: str  # "allow" | "deny"
    rule: str
    policy_version: str
    legal_basis: str | None = None
    purpose: str | None = None
    fields: tuple[str, ...] = ()
    delivered_sha256: str | None = None
    subjects: tuple[str, ...] = ()
    reason: str | None = None


AUDIT_DECODER = msgspec.json.Decoder(AuditRecord)
_encode = msgspec.json.Encoder().encode


class AuditChain:
    """The in-memory head of the chain: the next record's sequence and previous hash."""

    __slots__ = ("head", "seq")

    def __init__(self, seq: int = 0, head: str = GENESIS) -> None:
        self.seq = seq
        self.head = head

    @classmethod
    def resume(cls, last: bytes | None) -> AuditChain:
        """Continue after the last stored record (or from genesis when the trail is empty)."""
        if not last:
            return cls()
        rec = AUDIT_DECODER.decode(last)
        return cls(rec.seq, hashlib.sha256(last).hexdigest())

    def seal(self, record: AuditRecord) -> bytes:
        """Give ``record`` the next sequence and the previous hash; return its canonical bytes."""
        data = _encode(msgspec.structs.replace(record, prev=self.head, seq=self.seq + 1))
        self.seq += 1
        self.head = hashlib.sha256(data).hexdigest()
        return data
