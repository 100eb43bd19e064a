"""The routing service: consume every agency's outbound records, decide, audit, deliver.

Per fetched batch: plan (decode, check origin, decide, seal audit records), append every
audit record and wait for all their acks, only then deliver, wait for the inbox acks, and
only then ack the input. No delivery without a durable audit record (fail closed): if the
audit stream cannot be written the batch is retried, with backoff, until it can.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from samband.observability import (
    AUDIT_DECODER,
    AckPipeline,
    AuditChain,
    AuditRecord,
    Checkpointer,
    Pseudonymiser,
    PublishRefused,
    SpanKind,
    Spans,
    get_logger,
    remote_parent,
)
from samband.schemas import ENVELOPE, DecodeError, Envelope, OrganisationRef, PersonRef, encode

from ._live import LivePolicy
from ._policy import Decision, Policy
from ._pull import Puller

__all__ = ["Router", "RouterStats"]

_CONSUMER, _INTERNAL, _PRODUCER = SpanKind.CONSUMER, SpanKind.INTERNAL, SpanKind.PRODUCER

log = get_logger("samband.router")

AUDIT_SUBJECT = "audit.records"
DURABLE = "router"
# Pairs audited before a crash are remembered from the trail's tail, so a redelivered
# record is delivered again (deduped by its inbox msg id) but never audited twice.
RECENT_AUDITED = 65_536


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


@dataclass
class _Plan:
    # (msg id, sealed bytes, parent span context)
    audit: list[tuple[str, bytes, object]] = field(default_factory=list)
    # (subject, payload, msg id, origin, recipient, parent span context)
    deliveries: list[tuple[str, bytes, str, str, str, object]] = field(default_factory=list)
    acks: list = field(default_factory=list)


def _subject_pseudonyms(env: Envelope, pseudonym: Pseudonymiser) -> tuple[str, ...]:
    out = []
    for s in env.subjects:
        if isinstance(s, PersonRef):
            out.append(pseudonym(s.pnr))
        elif isinstance(s, OrganisationRef):
            out.append(pseudonym(s.orgnr))
        else:
            out.append(pseudonym(s.plate))
    return tuple(out)


class Router:
    def __init__(
        self,
        nc: nats.NATS,
        policy: Policy | LivePolicy,
        pseudonymiser: Pseudonymiser,
        *,
        batch: int = 256,
        ack_timeout: float = 10.0,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        # A compiled `Policy`, or a `LivePolicy` that swaps in a new one on every council
        # decision, registration or file reload; either way ``.current`` is what decides.
        self.source = policy
        self.pseudonym = pseudonymiser
        self.batch = batch
        self.ack_timeout = ack_timeout
        self.stats = RouterStats()
        self.checkpointer = checkpointer  # told of every acknowledged append, so it need not read them back
        self.chain = AuditChain()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._spans: Spans | None = None  # made on first use, after the entry point has configured tracing
        self._acks = AckPipeline(nc)
        self.blocked = False
        self.ready = asyncio.Event()  # set once the policy is rebuilt and the input is subscribed

    @property
    def policy(self) -> Policy:
        return self.source.current

    # ---- start-up ---------------------------------------------------------------------
    async def _resume_chain(self) -> None:
        """Continue the chain after the last stored audit record and remember the trail's recent pairs.

        After a failed commit only what was stored since the last point where the chain and the
        stream agreed is read (usually nothing, at most a batch), not the trail's whole tail.
        """
        try:
            info = await self.js.stream_info("AUDIT")
        except (TimeoutError, JsError, NatsError) as exc:
            raise ConnectionError(f"audit stream unavailable: {exc!r}") from exc
        last_seq = info.state.last_seq
        synced = getattr(self, "_synced", None)  # (stream seq, chain seq, chain head) known to agree
        if synced is not None and info.state.first_seq <= synced[0] + 1 and last_seq >= synced[0]:
            first = synced[0] + 1
            chain = AuditChain(synced[1], synced[2])
        else:
            self._recent.clear()
            chain = AuditChain()
            first = max(info.state.first_seq, last_seq - RECENT_AUDITED + 1)
        last = b""
        if info.state.messages and first <= last_seq:
            sub = await self.js.subscribe(
                AUDIT_SUBJECT,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                config=ConsumerConfig(opt_start_seq=first),
            )
            try:
                for _ in range(last_seq - first + 1):
                    msg = await sub.next_msg(timeout=5)
                    rec = AUDIT_DECODER.decode(msg.data)
                    self._remember(f"{rec.envelope_id}:{rec.recipient}")
                    last = msg.data
            except (TimeoutError, JsError, NatsError) as exc:
                raise ConnectionError(f"audit stream unreadable while resuming the chain: {exc!r}") from exc
            finally:
                await sub.unsubscribe()
        self.chain = AuditChain.resume(last) if last else chain
        # Each append states the stream sequence it must follow, so the stored chain can neither
        # fork (two writers) nor get a hole (a rejected append followed by accepted ones).
        self._audit_last_seq = last_seq
        self._synced = (last_seq, self.chain.seq, self.chain.head)

    def _remember(self, key: str) -> None:
        self._recent[key] = None
        if len(self._recent) > RECENT_AUDITED:
            self._recent.popitem(last=False)

    # ---- the loop ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        if isinstance(self.source, LivePolicy):
            # Rebuild the councils' decisions and the registrations before routing anything.
            await self.source.start(self.nc, stop)
        await self._resume_chain()
        await self._acks.start()
        await self._ensure_consumer()
        puller = Puller(self.nc, "INGEST", DURABLE, batch=self.batch)
        await puller.start()
        log.info("router started", policy_version=self.policy.version, audit_seq=self.chain.seq)
        self.ready.set()
        try:
            while not stop.is_set():
                try:
                    msgs = await puller.next_batch()
                except NatsError as exc:
                    log.warning("ingest pull failed; retrying", error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                if msgs:
                    self.stats.batches += 1
                    await self._handle_batch(msgs, stop)
        finally:
            await puller.close()
            await self._acks.close()
            if isinstance(self.source, LivePolicy):
                await self.source.close()

    @property
    def spans(self) -> Spans:
        if self._spans is None:
            self._spans = Spans()
        return self._spans

    async def _ensure_consumer(self) -> None:
        """The durable input consumer, made on first start (its config is the deployment's from then on)."""
        try:
            await self.js.consumer_info("INGEST", DURABLE)
        except NotFoundError:
            await self.js.add_consumer(
                "INGEST",
                ConsumerConfig(
                    durable_name=DURABLE,
                    filter_subject="ingest.>",
                    ack_policy=AckPolicy.EXPLICIT,
                    max_ack_pending=4096,
                    ack_wait=60,
                ),
            )

    async def _handle_batch(self, msgs: list, stop: asyncio.Event) -> None:
        """Plan, audit, deliver; while the audit trail cannot be written, deliver nothing and retry.

        After a failed commit the in-memory chain may be ahead of the stored one (sealed but
        unstored records), so it is re-read from the stream before anything is sealed again.
        """
        delay = 0.2
        stale = False
        while True:
            if stale:
                try:
                    await self._resume_chain()
                    stale = False
                except ConnectionError as exc:
                    if await self._blocked_wait(msgs, stop, delay, exc):
                        return
                    delay = min(delay * 2, 5.0)
                    continue
            plan = self._plan(msgs)
            try:
                await self._append_audit(plan)
            except ConnectionError as exc:
                stale = True
                if await self._blocked_wait(msgs, stop, delay, exc):
                    return
                delay = min(delay * 2, 5.0)
                continue
            if self.blocked:
                self.blocked = False
                log.warning("audit trail writable again: delivery resumed")
            await self._deliver(plan)
            return

    async def _blocked_wait(self, msgs: list, stop: asyncio.Event, delay: float, exc: Exception) -> bool:
        """Fail closed: say so (once per outage, then at debug), keep the input, wait. True when stopping."""
        if not self.blocked:
            log.error("audit trail unavailable: delivery stopped until it is back", error=str(exc))
        else:
            log.debug("audit trail still unavailable", error=str(exc))
        self.blocked = True
        for m in msgs:
            # keep the batch ours (not redelivered) while we wait; nothing is acked
            try:
                await m.in_progress()
            except (JsError, NatsError):
                pass
        if stop.is_set():
            return True
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            return False
        return True

    def _plan(self, msgs: list) -> _Plan:
        plan = _Plan()
        now = _dt.datetime.now(_dt.UTC)
        policy = self.policy  # one policy version per batch
        spans = self.spans
        for msg in msgs:
            plan.acks.append(msg)
            # ingest.<origin>.<record type>: the origin token is written by the server from the account
            origin = msg.subject.split(".", 2)[1]
            span = spans.messaging(
                "process", msg.subject, _CONSUMER, remote_parent(msg.headers), attributes={"samband.origin": origin}
            )
            self.stats.records += 1
            try:
                env = ENVELOPE.decode(msg.data)
            except DecodeError as exc:
                self._refuse(plan, origin, msg, now, "deny.invalid-envelope", str(exc), span)
                continue
            if env.origin is not None and env.origin != origin:
                self._refuse(
                    plan,
                    origin,
                    msg,
                    now,
                    "deny.forged-origin",
                    f"Expected origin `{origin}` (the publishing account), got `{env.origin}` in the payload",
                    span,
                    env,
                )
                continue
            env = msgspec.structs.replace(env, origin=origin)
            payloads: dict = {}  # recipients with the same view share one encoding
            # One decide span per record (not per recipient): the audit records and the
            # deliveries of this record all hang under it, and tracing stays cheap at fan-out.
            dspan = spans.start("decide", _INTERNAL, span.context, {})
            decisions = policy.route(env, now)
            ids = (format(dspan.trace_id, "032x"), format(dspan.span_id, "016x"), dspan.context)
            pseudonyms = _subject_pseudonyms(env, self.pseudonym)  # once per record, not per recipient
            for recipient, decision in decisions:
                self._decide_one(plan, policy, env, origin, recipient, decision, now, payloads, ids, pseudonyms)
            if dspan.start:  # recording: say what was decided
                spans.end(
                    dspan,
                    {"samband.decisions": [f"{r}:{'allow' if d.allow else 'deny'}:{d.rule}" for r, d in decisions]},
                )
            spans.end(span)
        return plan

    def _decide_one(
        self,
        plan: _Plan,
        policy: Policy,
        env: Envelope,
        origin: str,
        recipient: str,
        decision: Decision,
        now: _dt.datetime,
        payloads: dict,
        ids: tuple,
        pseudonyms: tuple[str, ...],
    ) -> None:
        self.stats.decisions += 1
        payload = b""
        if decision.allow:
            self.stats.allowed += 1
            # field minimisation: only what this recipient's purpose (or grant) allows
            key = (decision.fields, decision.legal_basis, decision.no_onward_sharing)
            payload = payloads.get(key)
            if payload is None:
                payload = payloads[key] = encode(policy.deliverable(env, decision))
        else:
            self.stats.denied += 1
        key = f"{env.id}:{recipient}"
        if key not in self._recent:
            record = AuditRecord(
                at=now,
                trace_id=ids[0],
                span_id=ids[1],
                envelope_id=env.id,
                record_type=env.record_type,
                origin=origin,
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
                subjects=pseudonyms,
                reason=decision.reason,
            )
            plan.audit.append((key, self.chain.seal(record), ids[2]))
        if decision.allow:
            plan.deliveries.append((f"inbox.{recipient}.{env.record_type}", payload, key, origin, recipient, ids[2]))

    def _refuse(
        self, plan: _Plan, origin: str, msg, now, rule: str, reason: str, span, env: Envelope | None = None
    ) -> None:
        """A record that cannot be routed is refused; the refusal is audited like any denial."""
        self.stats.refused += 1
        ctx = span.context
        # the log line carries the record's trace
        with trace.use_span(NonRecordingSpan(ctx) if ctx else trace.INVALID_SPAN):
            log.warning("record refused", origin=origin, rule=rule, reason=reason)
        self.spans.end(span, {"samband.refused": rule})
        env_id = env.id if env else f"ingest-seq-{msg.metadata.sequence.stream}"
        record = AuditRecord(
            at=now,
            trace_id=format(span.trace_id, "032x"),
            span_id=format(span.span_id, "016x"),
            envelope_id=env_id,
            record_type=env.record_type if env else msg.subject.split(".", 2)[-1],
            origin=origin,
            recipient="-",
            region=env.region if env else "-",
            operation=env.operation if env else "-",
            decision="deny",
            rule=rule,
            policy_version=self.policy.version,
            reason=reason,
            subjects=_subject_pseudonyms(env, self.pseudonym) if env else (),
        )
        key = f"{env_id}:-"
        if key not in self._recent:
            plan.audit.append((key, self.chain.seal(record), ctx))

    async def _append_audit(self, plan: _Plan) -> None:
        """Every audit record of the plan, acknowledged; each append must follow the stream's last
        sequence exactly. Raises ConnectionError when the trail cannot be written (fail closed)."""
        tracing = self.spans
        spans = [
            tracing.messaging("send", AUDIT_SUBJECT, _PRODUCER, parent, message_id=key) for key, _, parent in plan.audit
        ]
        base = self._audit_last_seq
        results = await self._acks.publish(
            [
                (AUDIT_SUBJECT, data, {"Nats-Msg-Id": key, "Nats-Expected-Last-Sequence": str(base + i)})
                for i, (key, data, _) in enumerate(plan.audit)
            ],
            self.ack_timeout,
        )
        for span, r in zip(spans, results):
            if isinstance(r, BaseException):
                tracing.end(span, error=r)
            else:
                tracing.end(span, {"messaging.nats.stream.sequence": r.seq})
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if isinstance(failed, PublishRefused):
            raise ConnectionError(f"audit append refused by the server: {failed}") from failed
        if failed is not None:
            raise ConnectionError(f"audit append not acknowledged: {failed!r}") from failed
        if any(a.duplicate for a in results):
            # A pair we did not remember was already in the trail: resynchronise rather than fork the chain.
            raise ConnectionError("audit trail moved under the router (duplicate append); resynchronising")
        if results:
            self._audit_last_seq = results[-1].seq
            self._synced = (results[-1].seq, self.chain.seq, self.chain.head)
            if self.checkpointer is not None:
                self.checkpointer.appended([data for _, data, _ in plan.audit], self.chain.head)
        for key, _, _ in plan.audit:
            self._remember(key)
        self.stats.audited += len(plan.audit)

    async def _deliver(self, plan: _Plan) -> None:
        """The audited plan's deliveries, all inbox acks awaited, then the input acked; if a delivery
        failed, the input is given back to be routed again (deliveries dedupe by msg id)."""
        tracing = self.spans
        # each delivery a PRODUCER span the recipient continues
        dspans = [
            tracing.messaging("send", subj, _PRODUCER, parent, message_id=key)
            for subj, _, key, _, _, parent in plan.deliveries
        ]
        results = await self._acks.publish(
            [
                (subj, payload, span.headers({"Nats-Msg-Id": key, "Samband-Origin": origin}))
                for (subj, payload, key, origin, _, _), span in zip(plan.deliveries, dspans)
            ],
            self.ack_timeout,
        )
        for span, r in zip(dspans, results):
            tracing.end(span, error=r if isinstance(r, BaseException) else None)
        failed = [(d[4], r) for d, r in zip(plan.deliveries, results) if isinstance(r, BaseException)]
        delivered = self.stats.delivered
        for d, r in zip(plan.deliveries, results):
            if not isinstance(r, BaseException) and not r.duplicate:
                delivered[d[4]] = delivered.get(d[4], 0) + 1
        if failed:
            # Not acking the input: the batch is redelivered and deliveries dedupe by msg id.
            for recipient, err in failed:
                log.error("delivery not acknowledged; will retry", recipient=recipient, error=repr(err))
            for m in plan.acks:
                await m.nak(delay=1)
            return
        # only now the input (one write for the batch)
        await self._acks.send_bare([m.reply for m in plan.acks])
