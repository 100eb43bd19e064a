"""Planning a batch: decode, check the origin, decide, minimise, draft the audit records.

Pure but for the clock it is handed and the spans it records: no I/O. A `Plan` holds what the
batch will append to the trail (`AuditDraft`s) and deliver (`Delivery`s), typed values rather
than tuples, and the input messages to acknowledge once both are durable.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from samband.observability import Pseudonymiser, SpanKind, Spans, get_logger, remote_parent
from samband.observability.audit import AuditDraft, AuditRecord
from samband.schemas import ENVELOPE, DecodeError, Envelope, OrganisationRef, PersonRef, encode
from samband.schemas.layout import delivery_subject, ingest_origin

from ._policy import NOBODY, Decision, Policy

__all__ = ["Delivery", "Plan", "Planner", "RouterStats"]

log = get_logger("samband.router")

_CONSUMER, _INTERNAL = SpanKind.CONSUMER, SpanKind.INTERNAL


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


class Delivery(msgspec.Struct, frozen=True):
    """One recipient's copy of one record, cut down to its fields, deduped by ``msg_id``."""

    subject: str
    payload: bytes
    msg_id: str  # <envelope id>:<recipient>
    origin: str
    recipient: str
    parent: SpanContext | None = None  # the record's decide span


@dataclass
class Plan:
    """What one batch appends, delivers and acknowledges, in that order."""

    audit: list[AuditDraft] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    acks: list[Msg] = field(default_factory=list)


class _Record(msgspec.Struct):
    """What every decision about one record shares (built once per record, not per recipient)."""

    env: Envelope
    origin: str
    ingest_seq: int  # the record's INGEST sequence, carried into each audit entry
    trace_id: str
    span_id: str
    parent: SpanContext | None
    pseudonyms: tuple[str, ...]
    payloads: dict[tuple[Any, ...], bytes]  # recipients with the same view share one encoding


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

    def __init__(self, pseudonymiser: Pseudonymiser, stats: RouterStats) -> None:
        self.pseudonym = pseudonymiser
        self.stats = stats
        self._spans: Spans | None = None

    @property
    def spans(self) -> Spans:
        if self._spans is None:  # made on first use, after the entry point has configured tracing
            self._spans = Spans()
        return self._spans

    def plan(self, msgs: list[Msg], policy: Policy, now: _dt.datetime) -> Plan:
        plan = Plan()
        spans = self.spans
        for msg in msgs:
            plan.acks.append(msg)
            origin = ingest_origin(msg.subject)  # written by the server from the publishing account
            span = spans.messaging(
                "process", msg.subject, _CONSUMER, remote_parent(msg.headers), attributes={"samband.origin": origin}
            )
            self.stats.records += 1
            try:
                env = ENVELOPE.decode(msg.data)
            except DecodeError as exc:
                self._refuse(plan, policy, origin, msg, now, "deny.invalid-envelope", str(exc), span)
                continue
            if env.origin is not None and env.origin != origin:
                reason = f"Expected origin `{origin}` (the publishing account), got `{env.origin}` in the payload"
                self._refuse(plan, policy, origin, msg, now, "deny.forged-origin", reason, span, env)
                continue
            env = msgspec.structs.replace(env, origin=origin)
            # One decide span per record (not per recipient): the audit records and the
            # deliveries of this record all hang under it, and tracing stays cheap at fan-out.
            dspan = spans.start("decide", _INTERNAL, span.context, {})
            decisions = policy.route(env, now)
            rec = _Record(
                env=env,
                origin=origin,
                ingest_seq=msg.metadata.sequence.stream,
                trace_id=format(dspan.trace_id, "032x"),
                span_id=format(dspan.span_id, "016x"),
                parent=dspan.context,
                pseudonyms=subject_pseudonyms(env, self.pseudonym),
                payloads={},
            )
            for recipient, decision in decisions:
                self._decide_one(plan, policy, rec, recipient, decision, now)
            if dspan.start:  # recording: say what was decided
                said = [f"{r}:{'allow' if d.allow else 'deny'}:{d.rule}" for r, d in decisions]
                spans.end(dspan, {"samband.decisions": said})
            spans.end(span)
        return plan

    def _decide_one(
        self, plan: Plan, policy: Policy, rec: _Record, recipient: str, decision: Decision, now: _dt.datetime
    ) -> None:
        stats = self.stats
        stats.decisions += 1
        env = rec.env
        payload = b""
        if decision.allow:
            stats.allowed += 1
            # field minimisation: only what this recipient's purpose (or grant) allows
            view = (decision.fields, decision.legal_basis, decision.no_onward_sharing)
            cached = rec.payloads.get(view)
            if cached is None:
                cached = rec.payloads[view] = encode(policy.deliverable(env, decision))
            payload = cached
        else:
            stats.denied += 1
        key = f"{env.id}:{recipient}"
        record = AuditRecord(
            at=now,
            trace_id=rec.trace_id,
            span_id=rec.span_id,
            envelope_id=env.id,
            record_type=env.record_type,
            origin=rec.origin,
            recipient=recipient,
            region=env.region,
            operation=env.operation,
            decision="allow" if decision.allow else "deny",
            rule=decision.rule,
            policy_version=decision.policy_version,
            legal_basis=decision.legal_basis,
            purpose=decision.purpose,
            fields=decision.fields,
            delivered_sha256=hashlib.sha256(payload).hexdigest() if payload else None,
            subjects=rec.pseudonyms,
            reason=decision.reason,
        )
        plan.audit.append(AuditDraft(key, record, rec.parent, rec.ingest_seq))
        if decision.allow:
            plan.deliveries.append(
                Delivery(delivery_subject(recipient, env.record_type), payload, key, rec.origin, recipient, rec.parent)
            )

    def _refuse(
        self,
        plan: Plan,
        policy: Policy,
        origin: str,
        msg: Msg,
        now: _dt.datetime,
        rule: str,
        reason: str,
        span: Any,
        env: Envelope | None = None,
    ) -> None:
        """A record that cannot be routed is refused; the refusal is audited like any denial."""
        self.stats.refused += 1
        ctx = span.context
        with trace.use_span(NonRecordingSpan(ctx) if ctx else trace.INVALID_SPAN):  # the log line carries the trace
            log.warning("record refused", origin=origin, rule=rule, reason=reason)
        self.spans.end(span, {"samband.refused": rule})
        ingest_seq = msg.metadata.sequence.stream
        env_id = env.id if env else f"ingest-seq-{ingest_seq}"
        record = AuditRecord(
            at=now,
            trace_id=format(span.trace_id, "032x"),
            span_id=format(span.span_id, "016x"),
            envelope_id=env_id,
            record_type=env.record_type if env else msg.subject.split(".", 2)[-1],
            origin=origin,
            recipient=NOBODY,
            region=env.region if env else NOBODY,
            operation=env.operation if env else NOBODY,
            decision="deny",
            rule=rule,
            policy_version=policy.version,
            reason=reason,
            subjects=subject_pseudonyms(env, self.pseudonym) if env else (),
        )
        plan.audit.append(AuditDraft(f"{env_id}:{NOBODY}", record, ctx, ingest_seq))
