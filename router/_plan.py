"""Planning a batch: check each record at the edge, decide, minimise, draft the audit records.

Pure but for the clock it is handed and the spans it records: no I/O. A `Plan` holds one `Item`
per INGEST message: what it appends to the trail (`AuditDraft`s), delivers (`Delivery`s), and
whether it is refused (and dead-lettered to its origin) or quarantined. Planning is two steps,
so the ledger claims of a batch travel while the batch is decided: `intake` (decode, the edge's
checks) and `decide`; a claim that finds the id used before turns an item into a repeat (nothing
to do) or a ``deny.reused-id`` refusal (`repeat`, `refuse`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from samband.observability import Pseudonymiser, SpanKind, Spans, Tally, get_logger, remote_parent
from samband.observability.audit import AuditDraft, AuditRecord
from samband.observability.bus import ack_position
from samband.schemas import Envelope, OrganisationRef, PersonRef, encode
from samband.schemas.layout import delivery_subject, ingest_origin

from ._intake import MAX_SUBJECTS, OPERATION_ID, Refusal, check_record, subject_type
from ._policy import NOBODY, Decision, Policy
from ._review import DEFAULT_LAPSE, Hold, ReviewRule, held_because, hold_for

__all__ = ["MAX_TRIES", "Delivery", "Item", "Plan", "Planner", "RouterStats"]

log = get_logger("samband.router")

_CONSUMER, _INTERNAL = SpanKind.CONSUMER, SpanKind.INTERNAL

# inbox subjects by (recipient, record type): a few dozen, made once each
_SUBJECTS: dict[tuple[str, str], str] = {}

# A record handed to the router this many times without being routed (a crash, a hang, an append
# that never succeeds) is quarantined rather than tried again.
MAX_TRIES = 5


@dataclass
class RouterStats:
    records: int = 0
    batches: int = 0
    decisions: int = 0
    allowed: int = 0
    denied: int = 0
    audited: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    repeats: int = 0  # the same record sent again (same id, same bytes): nothing done
    parked: int = 0  # deliveries parked because their recipient's inbox refused or did not answer
    held: int = 0  # (record, recipient)s held for their originator's review
    quarantined: int = 0
    dead_letters: int = 0  # refusals written to their origin's DEADLETTER
    # per agency and per rule, for the metrics (router/_metrics.py); counted as the totals above are
    received: dict[str, int] = field(default_factory=dict)  # records pulled, by origin (with a meter only)
    rules: dict[tuple[str, str], int] = field(default_factory=dict)  # decisions by (allow|deny, rule)
    dead_lettered: dict[str, int] = field(default_factory=dict)  # dead letters, by origin
    lag: dict[str, int] = field(default_factory=dict)  # by origin: left in its INGEST at the last pull (likewise)


class Delivery(msgspec.Struct, frozen=True):
    """One recipient's copy of one record, cut down to its fields, deduped by ``msg_id``."""

    subject: str
    payload: bytes
    msg_id: str  # <envelope id>:<recipient>
    origin: str
    recipient: str
    parent: SpanContext | None = None  # the record's decide span


@dataclass(slots=True)
class Item:
    """One INGEST message on its way through the router."""

    msg: Msg
    origin: str
    seq: int  # its sequence in INGEST_<origin>
    span: Any
    tries: int = 1  # how often the stream has handed it to a router (more than once: given back, or a crash)
    env: Envelope | None = None
    refusal: Refusal | None = None  # refused at the edge, or as a reused id: audited and dead-lettered
    quarantine: str | None = None  # why it is quarantined (it is audited as such)
    repeat: bool = False  # the same record again: acked, nothing else
    audit: list[AuditDraft] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    holds: list[tuple[int, Hold]] = field(default_factory=list)  # (its draft's index in ``audit``, the hold)
    trace_id: str = ""
    span_id: str = ""
    parent: SpanContext | None = None

    @property
    def audit_id(self) -> str:
        """The envelope id a refusal or quarantine is audited under: the INGEST message's own, never
        the sender's (which may be malformed, huge, or a repeat that must not collide)."""
        return f"ingest:{self.origin}:{self.seq}"


@dataclass
class Plan:
    """What one batch appends, delivers and acknowledges, in that order."""

    items: list[Item] = field(default_factory=list)

    @property
    def audit(self) -> list[AuditDraft]:
        return [d for it in self.items for d in it.audit]

    @property
    def deliveries(self) -> list[Delivery]:
        return [d for it in self.items for d in it.deliveries]

    @property
    def acks(self) -> list[Msg]:
        return [it.msg for it in self.items]


class _Record(msgspec.Struct):
    """What every decision about one record shares (built once per record, not per recipient)."""

    env: Envelope
    record_type: str
    origin: str
    seq: int  # the record's INGEST_<origin> sequence, carried into each audit entry
    trace_id: str
    span_id: str
    parent: SpanContext | None
    pseudonyms: tuple[str, ...]
    payloads: dict[tuple[Any, ...], tuple[bytes, str]]  # per view: the copy and its sha256, made once


def subject_pseudonyms(env: Envelope, pseudonym: Pseudonymiser) -> tuple[str, ...]:
    """The record's subjects (persons, organisations, vehicles) as keyed pseudonyms."""
    out = []
    for s in env.subjects:
        if isinstance(s, PersonRef):
            out.append(pseudonym(s.pnr))
        elif isinstance(s, OrganisationRef):
            out.append(pseudonym(s.orgnr))
        else:
            out.append(pseudonym(s.plate))
    return tuple(out)


class Planner:
    """Turns a batch of INGEST messages into a `Plan` under one policy version."""

    def __init__(
        self, pseudonymiser: Pseudonymiser, stats: RouterStats, review: Mapping[str, ReviewRule] | None = None
    ) -> None:
        self.pseudonym = pseudonymiser
        self.stats = stats
        self.review: Mapping[str, ReviewRule] = review or {}  # per originator, from its agency file
        self._spans: Spans | None = None
        self.refusals = Tally(log, "record refused")

    @property
    def spans(self) -> Spans:
        if self._spans is None:  # made on first use, after the entry point has configured tracing
            self._spans = Spans()
        return self._spans

    def plan(self, msgs: list[Msg], policy: Policy, now: _dt.datetime, sends: Mapping[str, frozenset[str]]) -> Plan:
        """`intake` and `decide` in one (no ledger between them)."""
        return self.decide(self.intake(msgs, sends), policy, now)

    def intake(self, msgs: list[Msg], sends: Mapping[str, frozenset[str]]) -> list[Item]:
        """Each message decoded and checked at the edge (no decision yet)."""
        items = []
        spans = self.spans
        for msg in msgs:
            origin = ingest_origin(msg.subject)  # written by the server from the publishing account
            seq, tries = ack_position(msg.reply)
            span = spans.messaging(
                "process", msg.subject, _CONSUMER, remote_parent(msg.headers), attributes={"samband.origin": origin}
            )
            self.stats.records += 1
            it = Item(msg, origin, seq, span, tries)
            items.append(it)
            if tries > MAX_TRIES:
                it.quarantine = (
                    f"Expected a record routed within {MAX_TRIES} tries, got it handed to the router "
                    f"{tries} times - at `{it.audit_id}`"
                )
                try:  # its id, to release it in the ledger; whatever failed before may fail here too
                    it.env = check_record(origin, msg.subject, msg.data, sends)[0]
                except Exception:
                    it.env = None
                continue
            it.env, it.refusal = check_record(origin, msg.subject, msg.data, sends)
        return items

    def decide(self, items: list[Item], policy: Policy, now: _dt.datetime) -> Plan:
        spans = self.spans
        for it in items:
            if it.quarantine is not None:
                self._quarantined(it, policy, now, it.quarantine)
                continue
            if it.refusal is not None:
                self.refuse(it, policy, now, it.refusal)
                continue
            span = it.span
            assert it.env is not None  # neither quarantined nor refused: it passed the edge
            env = it.env = msgspec.structs.replace(it.env, origin=it.origin)
            # One decide span per record (not per recipient): the audit records and the
            # deliveries of this record all hang under it, and tracing stays cheap at fan-out.
            dspan = spans.start("decide", _INTERNAL, span.context, {})
            decisions = policy.route(env, now)
            rec = _Record(
                env=env,
                record_type=env.record_type,
                origin=it.origin,
                seq=it.seq,
                trace_id=format(dspan.trace_id, "032x"),
                span_id=format(dspan.span_id, "016x"),
                parent=dspan.context,
                pseudonyms=subject_pseudonyms(env, self.pseudonym),
                payloads={},
            )
            it.trace_id, it.span_id, it.parent = rec.trace_id, rec.span_id, rec.parent
            held = held_because(env, self.review)
            for recipient, decision in decisions:
                self._decide_one(it, policy, rec, recipient, decision, now, held)
            if dspan.start:  # recording: say what was decided
                said = [f"{r}:{'allow' if d.allow else 'deny'}:{d.rule}" for r, d in decisions]
                spans.end(dspan, {"samband.decisions": said})
            spans.end(span)
        return Plan(items)

    def _decide_one(
        self,
        it: Item,
        policy: Policy,
        rec: _Record,
        recipient: str,
        decision: Decision,
        now: _dt.datetime,
        held: str | None = None,
    ) -> None:
        stats = self.stats
        stats.decisions += 1
        rule = ("allow" if decision.allow else "deny", decision.rule)
        stats.rules[rule] = stats.rules.get(rule, 0) + 1
        env = rec.env
        payload, digest = b"", None
        if decision.allow:
            stats.allowed += 1
            # field minimisation: only what this recipient's purpose (or grant) allows; the copy
            # and its digest made once per view of the record, shared by the recipients that have it
            view = (decision.fields, decision.legal_basis, decision.no_onward_sharing)
            cached = rec.payloads.get(view)
            if cached is None:
                minimised = encode(policy.deliverable(env, decision))
                cached = rec.payloads[view] = (minimised, hashlib.sha256(minimised).hexdigest())
            payload, digest = cached
        else:
            stats.denied += 1
        key = f"{env.id}:{recipient}"
        record = AuditRecord(
            at=now,
            trace_id=rec.trace_id,
            span_id=rec.span_id,
            envelope_id=env.id,
            record_type=rec.record_type,
            origin=rec.origin,
            recipient=recipient,
            region=env.region,
            operation=env.operation,
            delivered_sha256=digest,
            subjects=rec.pseudonyms,
            handling=env.handling,
            ingest_seq=rec.seq,
            **decision.audit_fields(),
        )
        if decision.allow and held is not None:
            self._hold(it, rec, record, payload, held, decision)
            return
        it.audit.append(AuditDraft(key, record, rec.parent, rec.seq))
        if decision.allow:
            subject = _SUBJECTS.get((recipient, rec.record_type))
            if subject is None:
                if len(_SUBJECTS) > 4096:
                    _SUBJECTS.clear()
                subject = _SUBJECTS[recipient, rec.record_type] = delivery_subject(recipient, rec.record_type)
            it.deliveries.append(Delivery(subject, payload, key, rec.origin, recipient, rec.parent))

    def _hold(self, it: Item, rec: _Record, allowed: AuditRecord, payload: bytes, why: str, d: Decision) -> None:
        """What the policy would disclose, held for the originator's officer instead (router/_review.py):
        counted, like its audit entry, as not disclosed (a release counts as an allow of its own)."""
        self.stats.held += 1
        self.stats.allowed -= 1
        self.stats.denied += 1
        rule = self.review.get(rec.origin)
        hold, record = hold_for(allowed, payload, why, d, rule.lapse if rule is not None else DEFAULT_LAPSE)
        it.holds.append((len(it.audit), hold))
        it.audit.append(AuditDraft(f"{hold.envelope_id}:{hold.recipient}", record, rec.parent, rec.seq))

    def not_held(self, it: Item, index: int, why: str) -> None:
        """A hold the queue could not take: the record is denied to that recipient instead (fail closed)."""
        draft = it.audit[index]
        self.stats.held -= 1
        record = msgspec.structs.replace(draft.record, rule="deny.review-unavailable", reason=f"not held: {why}")
        it.audit[index] = AuditDraft(draft.key, record, draft.parent, draft.ingest_seq)

    # ---- records that are not routed ---------------------------------------------------
    def repeat(self, it: Item) -> None:
        """The same record sent again (same origin, id and bytes): acked, nothing else."""
        self._undo(it)
        it.repeat = True
        self.stats.repeats += 1

    def refuse(self, it: Item, policy: Policy, now: _dt.datetime, refusal: Refusal) -> None:
        """A record that cannot be routed is refused; the refusal is audited like any denial and
        written, with the raw record, to the origin's dead letters."""
        self._undo(it)
        it.refusal = refusal
        self.stats.refused += 1
        env = it.env
        reason = refusal.reason
        if env is not None and refusal.rule != "deny.invalid-envelope":
            reason = f"{reason} (envelope `{env.id}`)"  # its id passed the edge's check: safe to name
        ctx = it.span.context
        with trace.use_span(NonRecordingSpan(ctx) if ctx else trace.INVALID_SPAN):  # the log line carries the trace
            self.refusals.add((it.origin, refusal.rule), origin=it.origin, rule=refusal.rule, reason=reason)
        self._deny(it, policy, now, refusal.rule, reason)

    def _quarantined(self, it: Item, policy: Policy, now: _dt.datetime, reason: str) -> None:
        self.stats.quarantined += 1
        self._deny(it, policy, now, "deny.quarantined", reason)

    def quarantine(self, it: Item, policy: Policy, now: _dt.datetime, reason: str) -> None:
        """Take ``it`` out of routing: quarantined with ``reason`` and audited as such."""
        self._undo(it)
        it.quarantine = reason
        self._quarantined(it, policy, now, reason)

    def _undo(self, it: Item) -> None:
        it.audit.clear()
        it.deliveries.clear()
        it.holds.clear()

    def _deny(self, it: Item, policy: Policy, now: _dt.datetime, rule: str, reason: str) -> None:
        rules = self.stats.rules  # a refusal is a decision too, by its own rule (the metrics count both)
        rules[("deny", rule)] = rules.get(("deny", rule), 0) + 1
        span = it.span
        ctx = span.context
        if not it.trace_id:  # not decided: its process span is still open
            self.spans.end(span, {"samband.refused": rule})
        env = it.env
        # a quarantined record's subjects stay out: they may be what made its own audit record unstorable
        shown = env is not None and len(env.subjects) <= MAX_SUBJECTS and it.quarantine is None
        operation = env.operation if env is not None and OPERATION_ID.fullmatch(env.operation) else NOBODY
        record = AuditRecord(
            at=now,
            trace_id=it.trace_id or format(span.trace_id, "032x"),
            span_id=it.span_id or format(span.span_id, "016x"),
            envelope_id=it.audit_id,
            # the payload's own tag (one of ours), or the subject's if it names a type: never a free token
            record_type=env.record_type if env is not None else subject_type(it.msg.subject) or "unknown",
            origin=it.origin,
            recipient=NOBODY,
            region=env.region if env is not None else NOBODY,
            operation=operation,
            decision="deny",
            rule=rule,
            policy_version=policy.version,
            reason=reason,
            subjects=subject_pseudonyms(env, self.pseudonym) if shown and env is not None else (),
            ingest_seq=it.seq,
        )
        it.audit.append(AuditDraft(f"{it.audit_id}:{NOBODY}", record, it.parent or ctx, it.seq))
