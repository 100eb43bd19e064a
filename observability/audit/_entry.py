"""The log's entries: one `AuditRecord` per decision, the writer's `Incident` notes, and auditors' `Lookup`s.

An entry is stored as its exact canonical bytes (msgspec JSON, fields in declaration order,
every field written), and those bytes are the Merkle tree's leaf. Each entry says what it is
(``kind``) and where it stands (``index``, its leaf index, from 0), so an entry moved, dropped
or slipped in is named by what it claims as well as by the tree; a decision also carries the
sequence of the INGEST record it is about (``ingest_seq``), which is how a router that crashed
recognises a record it already audited (`Appender.audited_after`).
"""

from __future__ import annotations

import datetime as _dt

import msgspec

from samband.schemas import Schema

__all__ = [
    "ENTRY_DECODER",
    "MAX_LISTED",
    "AuditRecord",
    "Entry",
    "Incident",
    "Lookup",
    "encode_entry",
    "entry_key",
    "lookup_key",
]


class AuditRecord(Schema, frozen=True, omit_defaults=False, kw_only=True, tag="decision", tag_field="kind"):
    """One decision about one (record, recipient). Subjects are keyed pseudonyms, never identifiers."""

    index: int = 0  # the leaf index, set by the writer
    ingest_seq: int = 0  # the INGEST sequence of the record decided on; 0 for none
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


class Incident(Schema, frozen=True, omit_defaults=False, kw_only=True, tag="incident", tag_field="kind"):
    """The writer's signed note of something it found in the log's stream and went past.

    ``what`` is ``foreign-messages``: messages on the audit subjects the writer did not write
    (``stream_seqs``, with each one's subject and SHA-256 in ``found``, at most `MAX_LISTED`;
    ``count`` says how many there were in all)."""

    index: int = 0
    at: _dt.datetime
    what: str
    detail: str
    count: int = 0
    stream_seqs: tuple[int, ...] = ()
    found: tuple[str, ...] = ()  # "<subject> <sha256 hex> <bytes>" per message listed


class Lookup(Schema, frozen=True, omit_defaults=False, kw_only=True, tag="lookup", tag_field="kind"):
    """An auditor's lookup (a person search, an export) as the writer drained it from the lookups stream.

    ``identity`` is the one the broker let publish on the subject (``audit.lookup.<identity>``),
    never a word of the payload; ``at`` is when the stream stored it; ``lookup_seq`` its sequence
    there (so one drained twice after a crash is appended once). ``filters`` are ``name=value``,
    the person as its keyed pseudonym; ``action`` is ``malformed`` for a payload that could not
    be read (its SHA-256 in ``detail``): an identity's every message is an event."""

    index: int = 0
    at: _dt.datetime
    identity: str
    action: str
    filters: tuple[str, ...] = ()
    results: int = 0
    lookup_seq: int = 0
    detail: str | None = None


MAX_LISTED = 100
Entry = AuditRecord | Incident | Lookup
ENTRY_DECODER = msgspec.json.Decoder(Entry)
_encode = msgspec.json.Encoder().encode


def encode_entry(entry: Entry, index: int) -> bytes:
    """``entry`` at leaf ``index``, as the exact bytes that are stored and hashed."""
    return _encode(msgspec.structs.replace(entry, index=index))


def entry_key(rec: AuditRecord) -> str:
    """The decision's dedupe key: ``<envelope id>:<recipient>``."""
    return f"{rec.envelope_id}:{rec.recipient}"


def lookup_key(lookup_seq: int) -> str:
    """A lookup's dedupe key: ``lookup:<its sequence in the lookups stream>``."""
    return f"lookup:{lookup_seq}"
