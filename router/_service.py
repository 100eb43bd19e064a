"""The routing service: consume every agency's outbound records, decide, audit, deliver.

Per pulled batch: plan (decode, check origin, decide, minimise, draft audit records: `Planner`),
append every audit record through the appender and wait for all their acks, only then deliver
and wait for the inbox acks (`Deliverer`), and only then ack the input. No delivery without a
durable audit record (fail closed): while the trail cannot be written, the batch is kept and the
append retried with backoff. `Router.run` only loops.
"""

from __future__ import annotations

import asyncio
import datetime as _dt

import nats
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.observability import Pseudonymiser, get_logger
from samband.observability.audit import Appender, AuditAppender, AuditUnavailable, LeaseLost
from samband.observability.bus import AckPipeline, Backoff, Puller
from samband.schemas.layout import INGEST_STREAM, INGEST_SUBJECTS, ROUTER_DURABLE

from ._delivery import Deliverer
from ._live import LivePolicy
from ._plan import Plan, Planner, RouterStats
from ._policy import Policy

__all__ = ["Router", "RouterStats"]

log = get_logger("samband.router")


class Router:
    def __init__(
        self,
        nc: nats.NATS,
        policy: Policy | LivePolicy,
        pseudonymiser: Pseudonymiser,
        *,
        batch: int = 256,
        ack_timeout: float = 10.0,
        appender: AuditAppender | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        # A compiled `Policy`, or a `LivePolicy` that swaps in a new one on every council
        # decision, registration or file reload; either way ``.current`` is what decides.
        self.source = policy
        self.batch = batch
        self.stats = RouterStats()
        pipeline = AckPipeline(nc)
        self.appender: AuditAppender = appender or Appender(nc, ack_timeout=ack_timeout, pipeline=pipeline)
        self.planner = Planner(pseudonymiser, self.stats)
        self.deliverer = Deliverer(pipeline, self.stats, ack_timeout=ack_timeout)
        self._pipeline = pipeline
        self.blocked = False  # the trail cannot be written: nothing is delivered
        self.ready = asyncio.Event()  # set once the policy is rebuilt and the input is subscribed

    @property
    def policy(self) -> Policy:
        return self.source.current

    async def run(self, stop: asyncio.Event) -> None:
        if isinstance(self.source, LivePolicy):
            # Rebuild the councils' decisions and the registrations before routing anything.
            await self.source.start(self.nc, stop)
        await self.appender.start()
        await self._pipeline.start()
        await self._ensure_consumer()
        puller = Puller(self.nc, INGEST_STREAM, ROUTER_DURABLE, batch=self.batch)
        await puller.start()
        log.info("router started", policy_version=self.policy.version)
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
                    try:
                        await self._route(msgs, stop)
                    except LeaseLost:
                        # Another router writes the log now: this one gives its input back and
                        # stands by until the lease is its again (the appender says so).
                        await puller.close()
                        await self.appender.start()
                        puller = Puller(self.nc, INGEST_STREAM, ROUTER_DURABLE, batch=self.batch)
                        await puller.start()
        finally:
            await puller.close()
            await self.appender.close()
            await self._pipeline.close()
            if isinstance(self.source, LivePolicy):
                await self.source.close()

    async def _ensure_consumer(self) -> None:
        """The durable input consumer, made on first start (its config is the deployment's from then on)."""
        try:
            await self.js.consumer_info(INGEST_STREAM, ROUTER_DURABLE)
        except NotFoundError:
            await self.js.add_consumer(
                INGEST_STREAM,
                ConsumerConfig(
                    durable_name=ROUTER_DURABLE,
                    filter_subject=INGEST_SUBJECTS,
                    ack_policy=AckPolicy.EXPLICIT,
                    max_ack_pending=4096,
                    ack_wait=60,
                ),
            )

    async def _route(self, msgs: list, stop: asyncio.Event) -> None:
        """Plan under one policy version, append the audit drafts (fail closed), then deliver."""
        plan = self.planner.plan(msgs, self.policy, _dt.datetime.now(_dt.UTC))
        if not await self._append(plan, stop):
            return  # stopping with the trail unwritable: the input is not acked, it is routed again
        await self.deliverer.deliver(plan)

    async def _append(self, plan: Plan, stop: asyncio.Event) -> bool:
        """The plan's audit drafts, stored; while the trail cannot be written, deliver nothing and retry."""
        backoff = Backoff()
        while True:
            try:
                stored = await self.appender.append(plan.audit)
            except LeaseLost as exc:
                log.error("audit lease lost: this router stops appending and delivering (fail closed)", error=str(exc))
                for m in plan.acks:
                    try:
                        await m.nak()
                    except (JsError, NatsError):
                        pass
                raise
            except AuditUnavailable as exc:
                if not self.blocked:
                    log.error("audit trail unavailable: delivery stopped until it is back", error=str(exc))
                else:
                    log.debug("audit trail still unavailable", error=str(exc))
                self.blocked = True
                await self._keep(plan)
                if await backoff.wait(stop):
                    return False
                continue
            if self.blocked:
                self.blocked = False
                log.warning("audit trail writable again: delivery resumed")
            self.stats.audited += stored
            return True

    @staticmethod
    async def _keep(plan: Plan) -> None:
        """Keep the batch ours (not redelivered) while the trail is down; nothing is acked."""
        for m in plan.acks:
            try:
                await m.in_progress()
            except (JsError, NatsError):
                pass
