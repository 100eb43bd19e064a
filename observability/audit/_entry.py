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
from typing import ClassVar

import msgspec

from samband.schemas import Handling, Schema

__all__ = [
    "ENTRY_DECODER",
    "MAX_LISTED",
    "AuditRecord",
    "Authority",
    "Entry",
    "Incident",
    "Lookup",
    "encode_entry",
    "entry_key",
    "lookup_key",
]


class Authority(Schema, frozen=True, kw_only=True):
    """What made a decision possible: a council's decision message or a shipped policy file.

    ``source`` is ``decision`` (``ref`` is the message's stream and sequence, ``DECISIONS#41``; with
    the council, its name as it signed, the decision's id and the Swedish day it was issued) or
    ``policy-file`` (``ref`` is the file's path, ``version`` the version of the policy files). It
    is fixed when the entry is written: a later decision about the same operation or grant cites
    itself in later entries and never changes what an earlier entry cites. It names councils,
    decisions and files only, never a person."""

    source: str  # "decision" | "policy-file"
    ref: str
    kind: str | None = None  # "operation" | "cooption": what the decision decided
    target: str | None = None  # the operation or grant id
    council: str | None = None  # the signing council's id, rsr-syd
    decided_by: str | None = None  # its name, RSR Syd
    decided_on: str | None = None  # the Swedish calendar day it was issued, 2017-01-09
    decision_id: str | None = None  # the envelope id the council signed
    version: str | None = None  # policy-file: the version of the policy files

    def text(self) -> str:
        """For people: ``granted by RSR Syd decision #41, 2017-01-09`` or ``policy file ... (version ...)``."""
        if self.source == "decision":
            verb = "granted" if self.kind == "cooption" else "decided"
            seq = self.ref.rpartition("#")[2]
            return f"{verb} by {self.decided_by or self.council} decision #{seq}, {self.decided_on}"
        return f"policy file {self.ref}" + (f" (version {self.version})" if self.version else "")


class AuditRecord(Schema, frozen=True, omit_defaults=False, kw_only=True, tag="decision", tag_field="kind"):
    """One decision about one (record, recipient). Subjects are keyed pseudonyms, never identifiers."""

    VERSION: ClassVar[tuple[int, int]] = (1, 1)  # 1.1: ``authority`` and ``handling`` (additive)

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
    # 1.1: what made the decision possible (an allow, or a denial a decision is the reason for)
    authority: Authority | None = None
    # 1.1: the originator's handling marks on the record (None: not known, e.g. a refusal at the edge),
    # so `samband policy impact` can decide the record again from the trail alone
    handling: Handling | None = None
    # the originator's review officer (``reviewer-<agency>``, from its credentials) who released or
    # withheld a held record (router/_review.py); None for every other decision
    officer: str | None = None


class Incident(Schema, frozen=True, omit_defaults=False, kw_only=True, tag="incident", tag_field="kind"):
    """The writer's signed note of something it found in the log's stream and went past.

    ``what`` is ``foreign-messages``: messages on the audit subjects the writer did not write
    (``stream_seqs``, with each one's subject and SHA-256 in ``found``, at most `MAX_LISTED`;
    ``count`` says how many there were in all); or ``unfinished-append``, when all of them are an
    append cut short before its checkpoint (the broker gone or full mid-append, a writer killed),
    whose entries are appended again after it."""

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
