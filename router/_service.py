"""The routing service: consume every agency's records, decide, audit, deliver.

Per batch (drawn fairly from every agency's own INGEST_<agency>, `FairPuller`): check each
record at the edge and claim its envelope id in the ledger (`Planner.intake`, `Ledger`), decide
while the claims travel (`Planner.decide`), append every audit record through the appender and
wait for it, only then deliver or park and wait for those acks (`Deliverer`), and only then ack
the input. No delivery without a durable audit record (fail closed): while the trail cannot be
written the batch is kept and the append retried with backoff. A record the trail refuses for
what it carries (too large to store) is found by halving the batch and quarantined, so it never
holds up the others. `Router.run` only loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.observability import Pseudonymiser, Tally, get_logger, timed
from samband.observability.audit import Appender, AuditAppender, AuditUnavailable, LeaseLost
from samband.observability.bus import AckPipeline, Backoff, FairPuller, NotSendable, PublishRefused
from samband.schemas.layout import INGEST_PREFIX, INGEST_SUBJECTS, ROUTER_DURABLE, ingest_stream, ingest_subjects

from ._delivery import Deliverer
from ._directory import AgencyDirectory
from ._intake import ENVELOPE_ID, Refusal
from ._ledger import Claim, Ledger, LedgerUnavailable, content_hash
from ._live import LivePolicy
from ._metrics import count_batch, instrument_router
from ._parking import Parking
from ._plan import Item, Plan, Planner, RouterStats
from ._policy import Policy
from ._refusals import RefusalAudit
from ._review import MAX_PENDING, HoldQueue, ReviewRule
from ._review_desk import ReviewDesk

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["Router", "RouterStats"]

log = get_logger("samband.router")

FOLLOW_EVERY = 10.0  # seconds between looks for INGEST streams made since (an onboarding also announces itself)

# Stream error codes for a message refused for what it is, not because the stream is unavailable.
_TOO_LARGE = {10054}  # message size exceeds maximum allowed


def _poison(exc: BaseException) -> bool:
    """The append was refused for what it carries, not because the trail is down."""
    cause = exc.__cause__
    return isinstance(cause, NotSendable) or (isinstance(cause, PublishRefused) and cause.error.err_code in _TOO_LARGE)


class Router:
    def __init__(
        self,
        nc: nats.NATS,
        policy: Policy | LivePolicy,
        pseudonymiser: Pseudonymiser,
        *,
        batch: int = 256,
        batch_bytes: int = 256 * 1024,
        ack_timeout: float = 10.0,
        deliver_timeout: float = 3.0,
        appender: AuditAppender | None = None,
        senders: Mapping[str, Iterable[str]] | None = None,
        meter: Meter | None = None,
        review: Mapping[str, ReviewRule] | None = None,
        review_every: float = 30.0,
        review_cap: int = MAX_PENDING,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        # A compiled `Policy`, or a `LivePolicy` that swaps in a new one on every council
        # decision, registration or file reload; either way ``.current`` is what decides.
        self.source = policy
        self.batch = batch
        self.batch_bytes = batch_bytes
        self.stats = RouterStats()
        # ``meter``: a metrics endpoint's (`--metrics-port`); without one, nothing is measured
        self._append_seconds = instrument_router(meter, self.stats) if meter is not None else None
        pipeline = AckPipeline(nc)
        self.appender: AuditAppender = appender or Appender(nc, ack_timeout=ack_timeout, pipeline=pipeline)
        self.planner = Planner(pseudonymiser, self.stats, review)
        # ``senders``: each agency file's `sends` as the deployment has them (REGISTRY may announce newer)
        self.directory = AgencyDirectory(senders)
        self.ledger = Ledger(nc, pipeline, timeout=ack_timeout)
        self.parking = Parking(nc, pipeline, self.stats, ack_timeout=ack_timeout, deliver_timeout=deliver_timeout)
        self.deliverer = Deliverer(
            pipeline, self.stats, self.parking, ack_timeout=ack_timeout, deliver_timeout=deliver_timeout
        )
        self._pipeline = pipeline
        # The originators' review queue: a batch and an officer's release never append at once.
        self.turn = asyncio.Lock()
        self.holds = HoldQueue(nc, pipeline, timeout=ack_timeout, cap=review_cap)
        self.desk = ReviewDesk(
            self.holds, lambda: self.appender, pipeline, self.parking, self.stats, self.turn,
            deliver_timeout=deliver_timeout,
        )  # fmt: skip
        self.review_every = review_every
        self._puller: FairPuller | None = None
        self._following = -1  # the directory's generation the pullers were last matched to
        self._looked = 0.0  # when the INGEST streams were last listed
        self.problems = Tally(log, "router problem; retrying")
        self.blocked = False  # the trail (or the ledger) cannot be written: nothing is delivered
        self._backoff = Backoff()
        self.ready = asyncio.Event()  # set once the policy is rebuilt and the input is subscribed
        # the councils' decision messages the policy refuses, audited between batches
        self.decision_refusals = RefusalAudit(lambda: self.policy.version)
        if isinstance(policy, LivePolicy):
            policy.refusal_listeners.append(self.decision_refusals.refused)

    @property
    def policy(self) -> Policy:
        return self.source.current

    @property
    def origins(self) -> frozenset[str]:
        """The agencies whose INGEST stream the router pulls from (one found later is added)."""
        return frozenset(self._puller.pullers) if self._puller is not None else frozenset()

    async def run(self, stop: asyncio.Event) -> None:
        if isinstance(self.source, LivePolicy):
            # Rebuild the councils' decisions and the registrations before routing anything.
            await self.source.start(self.nc, stop)
            self.decision_refusals.close_windows()  # the replay's refusals are all met
        await self.directory.start(self.nc)
        await self.appender.start()
        await self._pipeline.start()
        await self.parking.start(stop)
        await self.desk.open(self.nc)
        self._puller = FairPuller(self.nc, batch=self.batch, batch_bytes=self.batch_bytes)
        try:
            await self._follow_agencies()
            log.info("router started", policy_version=self.policy.version, origins=len(self._puller.pullers))
            self.ready.set()
            while not stop.is_set():
                if self.directory.generation != self._following or time.monotonic() - self._looked > FOLLOW_EVERY:
                    await self._follow_agencies()  # an agency onboarded meanwhile
                try:
                    msgs = await self._puller.next_batch()
                except NatsError as exc:
                    self.problems.add("pull", stage="pull", error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                try:
                    if msgs:
                        self.stats.batches += 1
                        await self._route(msgs, stop)
                    await self._audit_refusals()
                    await self.desk.sweep(self.review_every)
                except LeaseLost:
                    await self._stand_by(stop)
                self.problems.flush()
            self.decision_refusals.close_windows()
            with contextlib.suppress(AuditUnavailable):  # stopping: what is not stored now is met again on replay
                await self._audit_refusals()
        finally:
            await self.desk.close()
            await self._puller.close()
            await self.parking.close()
            await self.appender.close()
            await self._pipeline.close()
            await self.directory.close()
            self.planner.refusals.flush(force=True)
            if isinstance(self.source, LivePolicy):
                await self.source.close()

    async def _audit_refusals(self) -> None:
        """Append the refused decision messages met since the last batch; kept for the next try while
        the trail cannot be written (nothing is delivered on them, so nothing waits)."""
        drafts = self.decision_refusals.take()
        if not drafts:
            return
        try:
            self.stats.audited += await self.appender.append(drafts)
        except LeaseLost:
            raise
        except AuditUnavailable as exc:
            self.problems.add("refusals", stage="audit refused decisions", error=str(exc))
            return
        self.decision_refusals.appended(drafts)

    async def _stand_by(self, stop: asyncio.Event) -> None:
        """Another router writes the log now: give the input back, stop draining parked deliveries, and
        stand by until the lease is this one's again (the appender waits for it), then route on."""
        assert self._puller is not None
        await self._puller.close()
        await self.desk.close()
        await self.parking.close()
        # SIGTERM must stop a standby too, not only once the other router lets go of the lease
        taking = asyncio.ensure_future(self.appender.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({taking, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not taking.done():
            taking.cancel()
            # its end, not its CancelledError: a cancellation of this task itself must propagate
            await asyncio.wait({taking})
            if not taking.cancelled() and taking.exception() is not None:  # stopping either way
                log.warning("standby ended with an error while stopping", error=repr(taking.exception()))
            return
        taking.result()
        await self.parking.start(stop)
        await self.desk.open(self.nc)
        self._puller = FairPuller(self.nc, batch=self.batch, batch_bytes=self.batch_bytes)
        await self._follow_agencies()

    async def _follow_agencies(self) -> None:
        """Pull from every agency's INGEST stream (made by provisioning and onboarding): listed now,
        again whenever an agency is announced, and every `FOLLOW_EVERY` seconds."""
        assert self._puller is not None
        self._following, self._looked = self.directory.generation, time.monotonic()
        try:
            names = await _stream_names(self.nc, INGEST_SUBJECTS)
        except (NatsError, TimeoutError, ValueError) as exc:
            self.problems.add("follow", stage="list ingest streams", error=repr(exc))
            return
        for stream in names:
            slug = stream.removeprefix(INGEST_PREFIX)
            if not stream.startswith(INGEST_PREFIX) or slug in self._puller:
                continue
            try:
                info = await self.js.stream_info(stream)
                await self._ensure_consumer(slug)
            except (JsError, NatsError, TimeoutError) as exc:
                self.problems.add(("follow", slug), stage="follow", origin=slug, error=repr(exc))
                continue
            await self._puller.add(slug, stream, ROUTER_DURABLE, max_msg_bytes=max(info.config.max_msg_size or 0, 0))

    async def _ensure_consumer(self, slug: str) -> None:
        """The durable input consumer on the agency's stream, made on first start."""
        stream = ingest_stream(slug)
        try:
            await self.js.consumer_info(stream, ROUTER_DURABLE)
        except NotFoundError:
            await self.js.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=ROUTER_DURABLE,
                    filter_subject=ingest_subjects(slug),
                    ack_policy=AckPolicy.EXPLICIT,  # a work-queue stream removes a record once it is acked
                    max_ack_pending=4096,
                    ack_wait=60,
                ),
            )

    async def _route(self, msgs: list, stop: asyncio.Event) -> None:
        async with self.turn:
            await self._route_batch(msgs, stop)

    async def _route_batch(self, msgs: list, stop: asyncio.Event) -> None:
        """Check and claim, decide under one policy version, hold what its originator reviews, append the
        audit drafts (fail closed), then deliver."""
        policy, now = self.policy, _dt.datetime.now(_dt.UTC)
        planner = self.planner
        items = planner.intake(msgs, self.directory.sends)
        if self._append_seconds is not None:  # measured (~0.3 µs a record), so only when someone reads it
            count_batch(self.stats, items)
        claimed = [it for it in items if it.env is not None and it.refusal is None and it.quarantine is None]
        claims = [(it.env.id, Claim(it.origin, content_hash(it.msg.data), it.seq)) for it in claimed]  # type: ignore[union-attr]
        while True:
            try:
                pending = await self.ledger.send(claims)
                plan = planner.decide(items, policy, now)  # while the claims travel
                outcomes = await self.ledger.settle(pending)
                break
            except LedgerUnavailable as exc:
                if await self._wait_blocked(items, stop, "ledger", exc):
                    return
                for it in items:  # decided again on the next try
                    it.audit.clear()
                    it.deliveries.clear()
                    it.trace_id = ""
        for it, outcome in zip(claimed, outcomes, strict=True):
            if outcome.kind == "repeat":
                planner.repeat(it)
            elif outcome.kind == "reused":
                planner.refuse(it, policy, now, _reused(it, outcome.earlier))
        await self.desk.store(plan, planner)
        if not await self._append(plan, stop):
            return  # stopping with the trail unwritable: the input is not acked, it is routed again
        await self._release_quarantined(plan)
        await self.deliverer.deliver(plan, now)

    async def _append(self, plan: Plan, stop: asyncio.Event) -> bool:
        """The plan's audit drafts, stored; while the trail cannot be written, deliver nothing and retry."""
        while True:
            try:
                await self._append_items(plan, plan.items)
            except LeaseLost as exc:
                log.error("audit lease lost: this router stops appending and delivering (fail closed)", error=str(exc))
                for it in plan.items:
                    try:
                        await it.msg.nak()
                    except (JsError, NatsError):
                        pass
                raise
            except AuditUnavailable as exc:
                if await self._wait_blocked(plan.items, stop, "audit", exc):
                    return False
                continue
            if self.blocked:
                self.blocked = False
                log.warning("audit trail writable again: delivery resumed")
            self._backoff.reset()
            return True

    async def _append_items(self, plan: Plan, items: Sequence[Item]) -> None:
        """Append ``items``' drafts; a part the trail refuses for what it carries is halved until the
        record behind it is found, and that record is quarantined (and its quarantine audited)."""
        drafts = [d for it in items for d in it.audit]
        if not drafts:
            return
        try:
            with timed(self._append_seconds):
                self.stats.audited += await self.appender.append(drafts)
            return
        except AuditUnavailable as exc:
            if not _poison(exc):
                raise
            if len(items) == 1:
                it = items[0]
                if it.quarantine is not None:
                    raise  # even its quarantine record is refused: the trail's own problem
                self.planner.quarantine(it, self.policy, _dt.datetime.now(_dt.UTC), f"{exc} - at `audit`")
                await self._append_items(plan, items)
                return
        half = len(items) // 2
        await self._append_items(plan, items[:half])
        await self._append_items(plan, items[half:])

    async def _release_quarantined(self, plan: Plan) -> None:
        """A quarantined record's envelope id may be sent again: its ledger entry says so."""
        for it in plan.items:
            if it.quarantine is None:
                continue
            env_id = it.env.id if it.env is not None else None
            if env_id and ENVELOPE_ID.fullmatch(env_id):
                try:
                    await self.ledger.release(env_id, Claim(it.origin, content_hash(it.msg.data), it.seq))
                except LedgerUnavailable as exc:
                    self.problems.add("release", stage="ledger release", error=str(exc))

    async def _wait_blocked(self, items: Sequence[Item], stop: asyncio.Event, what: str, exc: BaseException) -> bool:
        """Keep the batch ours and wait before the next try; True when stopping."""
        if not self.blocked:
            trail = "audit trail" if what == "audit" else "ledger"
            log.error(f"{trail} unavailable: delivery stopped until it is back", error=str(exc))
        else:
            self.problems.add(what, stage=what, error=str(exc))
        self.blocked = True
        await _keep(items)
        return await self._backoff.wait(stop)


async def _stream_names(nc: nats.NATS, subject: str) -> list[str]:
    """The names of the streams of this account that listen on ``subject`` (nats-py filters none)."""
    names: list[str] = []
    while True:
        body = msgspec.json.encode({"subject": subject, "offset": len(names)})
        reply = msgspec.json.decode((await nc.request("$JS.API.STREAM.NAMES", body, timeout=5)).data)
        if "error" in reply:
            raise ValueError(f"Expected the stream names, got {reply['error']}")
        page = reply.get("streams") or []
        names += page
        if not page or len(names) >= reply.get("total", 0):
            return names


def _reused(it: Item, earlier: Claim | None) -> Refusal:
    by = "another agency" if earlier is not None and earlier.o != it.origin else "this agency"
    return Refusal(
        "deny.reused-id",
        f"Expected a new envelope id, got one {by} used before for other content - at `$.id`",
        "$.id",
    )


async def _keep(items: Sequence[Item]) -> None:
    """Keep the batch ours (not redelivered) while the trail is down; nothing is acked."""
    for it in items:
        try:
            await it.msg.in_progress()
        except (JsError, NatsError):
            pass
