"""The originator's officer at the review queue: list, show, release, withhold; and the lapse.

An officer asks on ``review.<agency>.<verb>``, a subject the broker lets only ``reviewer-<agency>``
publish on, so the agency (and the officer's identity in the audit entry) comes from its
credentials, never from the request. Every change is audited before it takes effect (a release
is delivered only after its ``review.released`` entry is stored) and runs under the router's
turn lock, so it never interleaves with a batch's append. A release or withholding names one
record (every recipient it still waits for, or those given); if any of them cannot take the change
(a lapsed hold cannot be released, a released one not withheld), nothing is changed. A release
of what is released already changes nothing and says so.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from collections.abc import Callable
from typing import Any

import msgspec
import nats
from nats.errors import Error as NatsError

from samband.observability import Tally, get_logger
from samband.observability.audit import AuditAppender, AuditDraft, AuditRecord, AuditUnavailable, LeaseLost
from samband.observability.bus import AckPipeline, PubAck
from samband.schemas.layout import REVIEW_REQUESTS, reviewer_identity

from ._parking import Parking
from ._plan import Delivery, Plan, Planner, RouterStats
from ._review import Hold, HoldQueue, QueueUnavailable

__all__ = ["MAX_REASON", "VERBS", "HoldView", "ReviewDesk", "ReviewReply", "ReviewRequest", "no_reason"]

log = get_logger("samband.router")

VERBS = ("list", "show", "release", "withhold")
MAX_REASON = 2000  # characters of an officer's reason (it is kept in the audit trail)
MAX_REQUEST = 16 * 1024


def no_reason() -> str:
    return "Expected a reason for withholding (what the balancing test found), got none - at `reason`"


class ReviewRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    envelope_id: str | None = None
    recipients: tuple[str, ...] = ()
    reason: str | None = None
    all: bool = False  # list: the decided ones too


class HoldView(msgspec.Struct, frozen=True, kw_only=True):
    """A hold as its officer sees it (``record``: the copy the recipient would get, `show` only)."""

    envelope_id: str
    recipient: str
    record_type: str
    operation: str
    region: str
    state: str
    held_at: _dt.datetime
    lapses_at: _dt.datetime
    why: str
    fields: tuple[str, ...]
    legal_basis: str | None
    purpose: str | None
    decided_at: _dt.datetime | None = None
    officer: str | None = None
    reason: str | None = None
    record: Any = None  # as JSON (the router sends the stored bytes as they are)


class ReviewReply(msgspec.Struct, kw_only=True):
    error: str | None = None
    holds: list[HoldView] = []
    changed: list[str] = []  # the recipients this request released or withheld for
    unchanged: list[str] = []  # what was already so, one sentence each


_REQUEST = msgspec.json.Decoder(ReviewRequest)
_encode = msgspec.json.Encoder().encode


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _view(h: Hold, record: bytes | None = None) -> HoldView:
    return HoldView(
        envelope_id=h.envelope_id,
        recipient=h.recipient,
        record_type=h.record_type,
        operation=h.operation,
        region=h.region,
        state=h.state,
        held_at=h.held_at,
        lapses_at=h.lapses_at,
        why=h.why,
        fields=h.fields,
        legal_basis=h.legal_basis,
        purpose=h.purpose,
        decided_at=h.decided_at,
        officer=h.officer,
        reason=h.reason,
        record=msgspec.Raw(record) if record else None,
    )


def _entry(h: Hold, at: _dt.datetime, *, allow: bool, rule: str, reason: str, officer: str | None) -> AuditRecord:
    return AuditRecord(
        at=at,
        envelope_id=h.envelope_id,
        record_type=h.record_type,
        origin=h.origin,
        recipient=h.recipient,
        region=h.region,
        operation=h.operation,
        decision="allow" if allow else "deny",
        rule=rule,
        policy_version=h.policy_version,
        legal_basis=h.legal_basis,
        purpose=h.purpose,
        fields=h.fields,
        delivered_sha256=h.delivered_sha256 if allow else None,
        subjects=h.subjects,
        reason=reason,
        officer=officer,
    )


class ReviewDesk:
    def __init__(
        self,
        queue: HoldQueue,
        appender: Callable[[], AuditAppender],
        pipeline: AckPipeline,
        parking: Parking,
        stats: RouterStats,
        turn: asyncio.Lock,
        *,
        deliver_timeout: float = 3.0,
    ) -> None:
        self.queue, self.appender, self.pipeline, self.parking = queue, appender, pipeline, parking
        self.stats, self.turn, self.deliver_timeout = stats, turn, deliver_timeout
        self.problems = Tally(log, "review queue problem")
        self._sub: Any = None
        self._swept = 0.0  # when holds were last looked through for lapses (monotonic)

    # ---- wiring into the router ----------------------------------------------------------------
    async def open(self, nc: nats.NATS) -> None:
        """The review queue as stored, then the officers' requests (only the log's writer answers them)."""
        await self.queue.start()
        self._sub = await nc.subscribe(REVIEW_REQUESTS, cb=self._on_request)

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except NatsError:
                pass
            self._sub = None

    async def _on_request(self, msg) -> None:
        _, agency, verb = msg.subject.split(".", 2)  # review.<agency>: the broker lets only its reviewer publish
        reply = await self.answer(agency, verb, msg.data, _utcnow)
        if msg.reply:
            try:
                await msg.respond(reply)
            except NatsError as exc:
                self.problems.add("reply", stage="review reply", error=repr(exc))

    async def store(self, plan: Plan, planner: Planner) -> None:
        """Each held (record, recipient) of ``plan`` into the queue; one it cannot take is denied instead."""
        pairs = [(it, i, h) for it in plan.items for i, h in it.holds]
        if pairs:
            refused = await self.queue.hold([h for _, _, h in pairs])
            for (it, i, _), why in zip(pairs, refused, strict=True):
                if why is not None:
                    planner.not_held(it, i, why)

    # ---- the officers' requests ---------------------------------------------------------------
    async def answer(self, agency: str, verb: str, data: bytes, now: Callable[[], _dt.datetime]) -> bytes:
        """The reply to one request on ``review.<agency>.<verb>`` (never raises)."""
        try:
            return _encode(await self._answer(agency, verb, data, now))
        except (AuditUnavailable, QueueUnavailable) as exc:
            return _encode(ReviewReply(error=f"nothing was changed or only in part, try again: {exc}"))

    async def _answer(self, agency: str, verb: str, data: bytes, now: Callable[[], _dt.datetime]) -> ReviewReply:
        if verb not in VERBS:
            return ReviewReply(error=f"Expected one of {', '.join(VERBS)}, got {verb[:40]!r} - at `verb`")
        if len(data) > MAX_REQUEST:
            return ReviewReply(error=f"Expected a request of at most {MAX_REQUEST} bytes, got {len(data)}")
        try:
            req = _REQUEST.decode(data or b"{}")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return ReviewReply(error=str(exc))
        if verb == "list":
            return ReviewReply(
                holds=[_view(h) for h in self.queue.entries(agency) if req.all or h.state == "held"][:1000]
            )
        if not req.envelope_id:
            return ReviewReply(error="Expected the envelope id of a held record, got none - at `envelope_id`")
        found = self.queue.entries(agency, req.envelope_id)
        if not found:  # another agency's record reads the same as an unknown one
            return ReviewReply(
                error=f"Expected a record of {agency} held for review, got no hold for "
                f"`{req.envelope_id[:64]}` - at `envelope_id`"
            )
        if req.recipients:
            held_for = {h.recipient for h in found}
            for r in req.recipients:
                if r not in held_for:
                    return ReviewReply(
                        error=f"Expected a recipient the record is held for ({', '.join(sorted(held_for))}), "
                        f"got {r[:40]!r} - at `recipients`"
                    )
            found = [h for h in found if h.recipient in req.recipients]
        elif verb in ("release", "withhold") and any(h.state == "held" for h in found):
            found = [h for h in found if h.state == "held"]  # no recipient named: those still waiting
        if verb == "show":
            views = []
            for h in found:
                stored = await self.queue.payload(h) if h.state == "held" else h
                views.append(_view(h, stored.payload))
            return ReviewReply(holds=views)
        officer = reviewer_identity(agency)
        if verb == "withhold":
            reason = (req.reason or "").strip()
            if not reason:
                return ReviewReply(error=no_reason())
            if len(reason) > MAX_REASON:
                return ReviewReply(error=f"Expected a reason of at most {MAX_REASON} characters, got {len(reason)}")
            async with self.turn:
                return await self._decide(found, "withheld", officer, reason, now())
        async with self.turn:
            return await self._decide(found, "released", officer, req.reason, now())

    async def _decide(
        self, found: list[Hold], outcome: str, officer: str | None, reason: str | None, at: _dt.datetime
    ) -> ReviewReply:
        found = [self.queue.index[h.key][0] for h in found]  # as they stand now, under the lock
        act, unchanged = [], []
        for h in found:
            if h.state == "held":
                act.append(h)
            elif h.state == outcome:
                unchanged.append(f"{h.recipient}: {h.describe()}")
            else:
                verb = "release" if outcome == "released" else "withhold"
                return ReviewReply(
                    error=f"Expected a record held for review to {verb}, got one {h.describe()} "
                    f"- at `{h.envelope_id}` -> {h.recipient}"
                )
        if act:
            await self.settle(act, outcome, officer, reason, at)
        return ReviewReply(changed=[h.recipient for h in act], unchanged=unchanged)

    # ---- outcomes: audited, recorded, then (a release) delivered -------------------------------
    async def settle(
        self, holds: list[Hold], outcome: str, officer: str | None, reason: str | None, at: _dt.datetime
    ) -> None:
        stored = [await self.queue.payload(h) for h in holds] if outcome == "released" else holds
        drafts = []
        for h in holds:
            if outcome == "released":
                said = f"released by {officer} after the originator's balancing test (LUS 2 §)"
            elif outcome == "withheld":
                said = f"withheld by {officer} after the originator's balancing test (LUS 2 §): {reason}"
            else:
                hours = (h.lapses_at - h.held_at).total_seconds() / 3600
                said = f"no officer of {h.origin} released it within {hours:g} hours of its hold; withheld"
            rule = f"review.{outcome}"
            if outcome == "released" and reason:
                said += f": {reason[:MAX_REASON]}"
            rec = _entry(h, at, allow=outcome == "released", rule=rule, reason=said, officer=officer)
            drafts.append(AuditDraft(f"{h.envelope_id}:{h.recipient}:{rule}", rec, None, 0))
        self.stats.audited += await self.appender().append(drafts)
        self.stats.decisions += len(drafts)  # each outcome is a decision of its own, audited
        if outcome == "released":
            self.stats.allowed += len(drafts)
        else:
            self.stats.denied += len(drafts)
        for h in holds:
            decided = msgspec.structs.replace(
                h, state=outcome, payload=None, decided_at=at, officer=officer, reason=reason
            )
            await self.queue.decide(h, decided)
        if outcome == "released":
            await self._deliver([s for s in stored if s.payload is not None])

    async def _deliver(self, holds: list[Hold]) -> None:
        out = [
            Delivery(h.subject, h.payload or b"", f"{h.envelope_id}:{h.recipient}", h.origin, h.recipient)
            for h in holds
        ]
        direct = [d for d in out if not self.parking.parked(d.recipient)]
        park = [d for d in out if self.parking.parked(d.recipient)]
        items = [(d.subject, d.payload, {"Nats-Msg-Id": d.msg_id, "Samband-Origin": d.origin}) for d in direct]
        results: list[PubAck | BaseException] = (
            await self.pipeline.publish(items, self.deliver_timeout) if items else []
        )
        why: list[BaseException | None] = [None] * len(park)
        for d, r in zip(direct, results, strict=True):
            if isinstance(r, BaseException):
                park.append(d)
                why.append(r)
            elif not r.duplicate:
                self.stats.delivered[d.recipient] = self.stats.delivered.get(d.recipient, 0) + 1
        if park:
            for d, err in zip(park, await self.parking.park(park, why), strict=True):
                if err is not None:  # audited as released, recorded so: an operator must look (logged)
                    log.error(
                        "a released record could not be delivered nor parked", recipient=d.recipient, error=repr(err)
                    )

    # ---- the lapse ------------------------------------------------------------------------------
    async def lapse(self, now: _dt.datetime) -> int:
        """Withhold every hold whose time ran out (audited ``review.lapsed``); how many."""
        due = self.queue.due(now)
        if not due:
            return 0
        async with self.turn:
            due = [self.queue.index[h.key][0] for h in due]
            due = [h for h in due if h.state == "held"]
            if due:
                await self.settle(due, "lapsed", None, None, now)
        return len(due)

    async def sweep(self, every: float) -> None:
        """`lapse`, called by the router between batches every ``every`` seconds (a task of its own
        would append beside a router that lost its lease, and keep it from stopping)."""
        if time.monotonic() - self._swept < every:
            return
        self._swept = time.monotonic()
        try:
            await self.lapse(_utcnow())
        except LeaseLost:
            raise
        except (AuditUnavailable, QueueUnavailable) as exc:
            self.problems.add("lapse", stage="review lapse", error=str(exc))
