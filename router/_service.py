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
    context_from_ids,
    end_span,
    extract_context,
    get_logger,
    get_tracer,
    inject_headers,
    inject_span,
    start_messaging_span,
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
# How long a busy router's pull lingers for more records when none are waiting (bench: p99 at 1k/s).
BUSY_WAIT = 0.002


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
        except (JsError, NatsError, asyncio.TimeoutError) as exc:
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
                AUDIT_SUBJECT, ordered_consumer=True, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                config=ConsumerConfig(opt_start_seq=first),
            )
            try:
                for _ in range(last_seq - first + 1):
                    msg = await sub.next_msg(timeout=5)
                    rec = AUDIT_DECODER.decode(msg.data)
                    self._remember(f"{rec.envelope_id}:{rec.recipient}")
                    last = msg.data
            except (JsError, NatsError, asyncio.TimeoutError) as exc:
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
        psub = await self.js.pull_subscribe(
            "ingest.>", durable=DURABLE, stream="INGEST",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4096, ack_wait=60),
        )
        log.info("router started", policy_version=self.policy.version, audit_seq=self.chain.seq)
        self.ready.set()
        busy = False
        try:
            while not stop.is_set():
                try:
                    # A pull for a whole batch lingers until the batch is full or it expires, so a
                    # trickle of records would wait out the expiry. Idle, wait for one record (the
                    # pull returns as it arrives); busy, take what is there, lingering only briefly.
                    msgs = await (psub.fetch(self.batch, timeout=BUSY_WAIT) if busy else psub.fetch(1, timeout=0.5))
                except (NatsTimeout, asyncio.TimeoutError):
                    busy = False
                    continue
                except (NatsError, JsError) as exc:
                    log.warning("ingest fetch failed; retrying", error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                busy = True
                await self._handle_batch(msgs, stop)
        finally:
            if isinstance(self.source, LivePolicy):
                await self.source.close()

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
                await self._commit(plan)
            except ConnectionError as exc:
                stale = True
                if await self._blocked_wait(msgs, stop, delay, exc):
                    return
                delay = min(delay * 2, 5.0)
                continue
            if self.blocked:
                self.blocked = False
                log.warning("audit trail writable again: delivery resumed")
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
        except asyncio.TimeoutError:
            return False
        return True

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
                # One decide span per record (not per recipient): the audit records and the
                # deliveries of this record all hang under it, and tracing stays cheap at fan-out.
                with self._tracer.start_as_current_span("decide") as dspan:
                    decisions = policy.route(env, now)
                    ctx = dspan.get_span_context()
                    ids = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
                    pseudonyms = _subject_pseudonyms(env, self.pseudonym)  # once per record, not per recipient
                    outcomes = []
                    for recipient, decision in decisions:
                        outcomes.append(f"{recipient}:{'allow' if decision.allow else 'deny'}:{decision.rule}")
                        self._decide_one(plan, policy, env, origin, recipient, decision, now, payloads, ids, pseudonyms)
                    dspan.set_attribute("samband.decisions", outcomes)

        return plan

    def _decide_one(
        self, plan: _Plan, policy: Policy, env: Envelope, origin: str, recipient: str, decision: Decision,
        now: _dt.datetime, payloads: dict, ids: tuple[str, str], pseudonyms: tuple[str, ...],
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
                at=now, trace_id=ids[0], span_id=ids[1],
                envelope_id=env.id, record_type=env.record_type, origin=origin, recipient=recipient,
                region=env.region, operation=env.operation, decision="allow" if decision.allow else "deny",
                rule=decision.rule, policy_version=decision.policy_version, legal_basis=decision.legal_basis,
                purpose=decision.purpose, fields=decision.fields,
                delivered_sha256=hashlib.sha256(payload).hexdigest() if payload else None,
                subjects=pseudonyms, reason=decision.reason,
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
        # 1. audit, all acks awaited; each append must follow the stream's last sequence exactly
        parents = {hdr.get("Nats-Msg-Id"): hdr for _, _, hdr, _ in plan.deliveries}
        spans = [
            start_messaging_span("send", AUDIT_SUBJECT, extract_context(parents.get(key)) or _audit_parent(data), message_id=key)
            for key, data in plan.audit
        ]
        base = self._audit_last_seq
        try:
            # Plain requests, all in flight, not publish_async: nats-py 2.x loses a refused
            # publish_async (the server's error is raised inside its reply handler, so the
            # future only times out); a request hands us the server's answer to check.
            replies = await asyncio.wait_for(asyncio.gather(*(
                self.nc.request(AUDIT_SUBJECT, data, timeout=self.ack_timeout, headers={
                    "Nats-Msg-Id": key, "Nats-Expected-Last-Sequence": str(base + i),
                })
                for i, (key, data) in enumerate(plan.audit)
            )), self.ack_timeout)
            acks = [_audit_ack(r.data) for r in replies]
        except (JsError, NatsError, asyncio.TimeoutError, OSError, msgspec.DecodeError) as exc:
            for span in spans:
                end_span(span, exc)
            raise ConnectionError(f"audit append not acknowledged: {exc!r}") from exc
        refused = [a.error for a in acks if a.error is not None]
        for span, ack in zip(spans, acks):
            if ack.error is None:
                end_span(span, **{"messaging.nats.stream.sequence": ack.seq})
            else:
                end_span(span, ConnectionError(ack.error.description))
        if refused:
            e = refused[0]
            raise ConnectionError(f"audit append refused by the server: {e.description} (code {e.code}, err_code {e.err_code})")
        if any(a.duplicate for a in acks):
            # A pair we did not remember was already in the trail: resynchronise rather than fork the chain.
            raise ConnectionError("audit trail moved under the router (duplicate append); resynchronising")
        if acks:
            self._audit_last_seq = acks[-1].seq
            self._synced = (acks[-1].seq, self.chain.seq, self.chain.head)
        for key, _ in plan.audit:
            self._remember(key)
        self.stats.audited += len(plan.audit)
        # 2. deliver, all inbox acks awaited; each delivery a PRODUCER span the recipient continues
        #    (requests, for the same reason as the audit appends: a refusal is an answer, not a timeout)
        dspans = [start_messaging_span("send", subj, extract_context(hdr), message_id=hdr.get("Nats-Msg-Id"))
                  for subj, _, hdr, _ in plan.deliveries]
        replies = await asyncio.gather(*(
            self.nc.request(subj, payload, timeout=self.ack_timeout, headers=inject_span(dict(hdr), span))
            for (subj, payload, hdr, _), span in zip(plan.deliveries, dspans)
        ), return_exceptions=True)
        results = [r if isinstance(r, BaseException) else _delivery_ack(r.data) for r in replies]
        for span, r in zip(dspans, results):
            end_span(span, r if isinstance(r, BaseException) else None)
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


class _ApiError(msgspec.Struct, forbid_unknown_fields=False):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct, forbid_unknown_fields=False):
    # The JetStream publish reply: an ack, or an error (unknown fields skipped on purpose).
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_audit_ack = msgspec.json.Decoder(_PubAck).decode


class _DeliveryRefused(ConnectionError):
    """The recipient's inbox stream answered a delivery with an error."""


def _delivery_ack(data: bytes) -> _PubAck | BaseException:
    try:
        ack = _audit_ack(data)
    except msgspec.DecodeError as exc:
        return exc
    if ack.error is not None:
        return _DeliveryRefused(f"{ack.error.description} (code {ack.error.code}, err_code {ack.error.err_code})")
    return ack


class _TraceIds(msgspec.Struct, forbid_unknown_fields=False):
    # Just the ids from a sealed audit record (the rest is skipped on purpose).
    trace_id: str | None = None
    span_id: str | None = None


_TRACE_IDS = msgspec.json.Decoder(_TraceIds)


def _audit_parent(data: bytes):
    """A denial has no delivery headers: its audit span's parent is the decide span named in the record."""
    try:
        ids = _TRACE_IDS.decode(data)
    except msgspec.DecodeError:
        return None
    return context_from_ids(ids.trace_id, ids.span_id)
