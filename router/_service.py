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
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError

from samband.observability import (
    AUDIT_DECODER,
    AuditChain,
    AuditRecord,
    Pseudonymiser,
    consumer_span,
    get_logger,
    get_tracer,
    inject_headers,
)
from samband.schemas import ENVELOPE, DecodeError, Envelope, OrganisationRef, PersonRef, encode

from ._live import LivePolicy
from ._policy import Decision, Policy

__all__ = ["Router", "RouterStats"]

log = get_logger("samband.router")

AUDIT_SUBJECT = "audit.records"
DURABLE = "router"
# Pairs audited before a crash are remembered from the trail's tail, so a redelivered
# record is delivered again (deduped by its inbox msg id) but never audited twice.
RECENT_AUDITED = 65_536


@dataclass
class RouterStats:
    records: int = 0
    decisions: int = 0
    allowed: int = 0
    denied: int = 0
    audited: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    refused: int = 0


@dataclass
class _Plan:
    audit: list[tuple[str, bytes]] = field(default_factory=list)  # (msg id, sealed bytes)
    deliveries: list[tuple[str, bytes, dict[str, str], str]] = field(default_factory=list)  # subject, payload, headers, recipient
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
        self.chain = AuditChain()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._tracer = get_tracer()
        self.blocked = False

    @property
    def policy(self) -> Policy:
        return self.source.current

    # ---- start-up ---------------------------------------------------------------------
    async def _resume_chain(self) -> None:
        """Continue the chain after the last stored audit record and remember the trail's recent pairs."""
        try:
            info = await self.js.stream_info("AUDIT")
        except (JsError, NatsError) as exc:
            raise ConnectionError(f"audit stream unavailable: {exc!r}") from exc
        last_seq = info.state.last_seq
        self._recent.clear()
        if info.state.messages == 0:
            self.chain = AuditChain()
            return
        first = max(info.state.first_seq, last_seq - RECENT_AUDITED + 1)
        sub = await self.js.subscribe(
            AUDIT_SUBJECT, ordered_consumer=True, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=first),
        )
        last = b""
        try:
            for _ in range(last_seq - first + 1):
                msg = await sub.next_msg(timeout=5)
                rec = AUDIT_DECODER.decode(msg.data)
                self._remember(f"{rec.envelope_id}:{rec.recipient}")
                last = msg.data
        finally:
            await sub.unsubscribe()
        self.chain = AuditChain.resume(last)

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
        psub = await self.js.pull_subscribe(
            "ingest.>", durable=DURABLE, stream="INGEST",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4096, ack_wait=60),
        )
        log.info("router started", policy_version=self.policy.version, audit_seq=self.chain.seq)
        try:
            while not stop.is_set():
                try:
                    msgs = await psub.fetch(self.batch, timeout=0.5)
                except (NatsTimeout, asyncio.TimeoutError):
                    continue
                except (NatsError, JsError) as exc:
                    log.warning("ingest fetch failed; retrying", error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                await self._handle_batch(msgs, stop)
        finally:
            if isinstance(self.source, LivePolicy):
                await self.source.close()

    async def _handle_batch(self, msgs: list, stop: asyncio.Event) -> None:
        delay = 0.2
        while True:
            plan = self._plan(msgs)
            try:
                await self._commit(plan)
            except ConnectionError as exc:
                # Fail closed: nothing of this batch is delivered until its audit records are durable.
                self.blocked = True
                log.error("audit trail unavailable: delivery stopped until it is back", error=str(exc))
                if stop.is_set():
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                try:
                    await self._resume_chain()
                except ConnectionError:
                    pass
                continue
            if self.blocked:
                self.blocked = False
                log.info("audit trail writable again: delivery resumed")
            return

    def _plan(self, msgs: list) -> _Plan:
        plan = _Plan()
        now = _dt.datetime.now(_dt.timezone.utc)
        policy = self.policy  # one policy version per batch
        for msg in msgs:
            plan.acks.append(msg)
            # ingest.<origin>.<record type>: the origin token is written by the server from the account
            parts = msg.subject.split(".", 2)
            origin = parts[1]
            with consumer_span(msg.subject, msg.headers, attributes={"samband.origin": origin}) as span:
                self.stats.records += 1
                try:
                    env = ENVELOPE.decode(msg.data)
                except DecodeError as exc:
                    self._refuse(plan, origin, msg, now, "deny.invalid-envelope", str(exc), span)
                    continue
                if env.origin is not None and env.origin != origin:
                    self._refuse(
                        plan, origin, msg, now, "deny.forged-origin",
                        f"Expected origin `{origin}` (the publishing account), got `{env.origin}` in the payload", span, env,
                    )
                    continue
                env = msgspec.structs.replace(env, origin=origin)
                payloads: dict = {}  # recipients with the same view share one encoding
                for recipient, decision in policy.route(env, now):
                    self._decide_one(plan, policy, env, origin, recipient, decision, now, payloads)

        return plan

    def _decide_one(
        self, plan: _Plan, policy: Policy, env: Envelope, origin: str, recipient: str, decision: Decision,
        now: _dt.datetime, payloads: dict,
    ) -> None:
        with self._tracer.start_as_current_span("decide", attributes={"samband.recipient": recipient}) as span:
            span.set_attribute("samband.decision", "allow" if decision.allow else "deny")
            span.set_attribute("samband.rule", decision.rule)
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
            ctx = span.get_span_context()
            if key not in self._recent:
                record = AuditRecord(
                    at=now, trace_id=format(ctx.trace_id, "032x"), span_id=format(ctx.span_id, "016x"),
                    envelope_id=env.id, record_type=env.record_type, origin=origin, recipient=recipient,
                    region=env.region, operation=env.operation, decision="allow" if decision.allow else "deny",
                    rule=decision.rule, policy_version=decision.policy_version, legal_basis=decision.legal_basis,
                    purpose=decision.purpose, fields=decision.fields,
                    delivered_sha256=hashlib.sha256(payload).hexdigest() if payload else None,
                    subjects=_subject_pseudonyms(env, self.pseudonym), reason=decision.reason,
                )
                plan.audit.append((key, self.chain.seal(record)))
            if decision.allow:
                headers = inject_headers({"Nats-Msg-Id": key, "Samband-Origin": origin})
                plan.deliveries.append((f"inbox.{recipient}.{env.record_type}", payload, headers, recipient))

    def _refuse(self, plan: _Plan, origin: str, msg, now, rule: str, reason: str, span, env: Envelope | None = None) -> None:
        """A record that cannot be routed is refused; the refusal is audited like any denial."""
        self.stats.refused += 1
        span.set_attribute("samband.refused", rule)
        log.warning("record refused", origin=origin, rule=rule, reason=reason)
        env_id = env.id if env else f"ingest-seq-{msg.metadata.sequence.stream}"
        ctx = span.get_span_context()
        record = AuditRecord(
            at=now, trace_id=format(ctx.trace_id, "032x"), span_id=format(ctx.span_id, "016x"),
            envelope_id=env_id, record_type=env.record_type if env else msg.subject.split(".", 2)[-1],
            origin=origin, recipient="-", region=env.region if env else "-", operation=env.operation if env else "-",
            decision="deny", rule=rule, policy_version=self.policy.version, reason=reason,
            subjects=_subject_pseudonyms(env, self.pseudonym) if env else (),
        )
        key = f"{env_id}:-"
        if key not in self._recent:
            plan.audit.append((key, self.chain.seal(record)))

    async def _commit(self, plan: _Plan) -> None:
        # 1. audit, all acks awaited
        try:
            futs = [
                await self.js.publish_async(AUDIT_SUBJECT, data, headers={"Nats-Msg-Id": key})
                for key, data in plan.audit
            ]
            acks = await asyncio.wait_for(asyncio.gather(*futs), self.ack_timeout)
        except (JsError, NatsError, asyncio.TimeoutError, OSError) as exc:
            raise ConnectionError(f"audit append not acknowledged: {exc!r}") from exc
        if any(a.duplicate for a in acks):
            # A pair we did not remember was already in the trail: resynchronise rather than fork the chain.
            raise ConnectionError("audit trail moved under the router (duplicate append); resynchronising")
        for key, _ in plan.audit:
            self._remember(key)
        self.stats.audited += len(plan.audit)
        # 2. deliver, all inbox acks awaited
        with self._tracer.start_as_current_span("deliver", attributes={"messaging.system": "nats", "samband.deliveries": len(plan.deliveries)}):
            futs = [await self.js.publish_async(subj, payload, headers=hdr) for subj, payload, hdr, _ in plan.deliveries]
            results = await asyncio.gather(*(asyncio.wait_for(f, self.ack_timeout) for f in futs), return_exceptions=True)
        failed = [(d[3], r) for d, r in zip(plan.deliveries, results) if isinstance(r, BaseException)]
        for d, r in zip(plan.deliveries, results):
            if not isinstance(r, BaseException) and not r.duplicate:
                self.stats.delivered[d[3]] = self.stats.delivered.get(d[3], 0) + 1
        if failed:
            # Not acking the input: the batch is redelivered and deliveries dedupe by msg id.
            for recipient, err in failed:
                log.error("delivery not acknowledged; will retry", recipient=recipient, error=repr(err))
            for m in plan.acks:
                await m.nak(delay=1)
            return
        # 3. ack the input only now
        for m in plan.acks:
            await m.ack()

