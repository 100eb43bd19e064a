"""The demo's balancing test (LUS 2 §): Polisen's agency file marks its overload reports "review
before disclosure", so the router holds every one of them per recipient; Polisen's review officer
(``reviewer-polisen``, its own credentials) lists them and releases each to Skatteverket and
Transportstyrelsen, the two agencies that take bus companies' overloads to tax and permit
supervision. The other two recipients' holds wait for the officer (they lapse to withheld after
the agency file's ``lapse_hours``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import msgspec
from nats.errors import Error as NatsError

from samband.broker_config import Agency, Deployment, ReviewMarks
from samband.router import ReviewReply, ReviewRequest, Router
from samband.schemas.layout import review_request_subject, reviewer_identity

__all__ = ["RELEASED_TO", "REVIEWED", "ReviewDemo", "marked_for_review", "release_held"]

REVIEWED = "police.overload_report"
RELEASED_TO = ("skatteverket", "transportstyrelsen")
_REPLY = msgspec.json.Decoder(ReviewReply)


@dataclass
class ReviewDemo:
    held: int = 0  # (record, recipient)s held
    records: int = 0  # records held
    released: dict[str, int] = field(default_factory=dict)  # recipient -> records released to it
    waiting: int = 0  # holds still waiting for the officer
    recipients: tuple[str, ...] = ()  # every recipient a report was held for
    lapse_hours: int = 0
    errors: list[str] = field(default_factory=list)  # what the router refused (the demo is then incomplete)


def marked_for_review(polisen: Agency) -> Agency:
    """Polisen's agency file with ``[review] record_types = ["police.overload_report"]``."""
    return msgspec.structs.replace(polisen, review=ReviewMarks(record_types=(REVIEWED,)))


async def release_held(dep: Deployment, router: Router, records: int, deadline: float) -> ReviewDemo:
    """Wait until ``records`` reports are held, then release each to `RELEASED_TO` as Polisen's officer."""
    out = ReviewDemo(lapse_hours=dep.agencies["polisen"].review.lapse_hours)
    nc = await dep.connect(reviewer_identity("polisen"))
    try:

        async def ask(verb: str, req: ReviewRequest) -> ReviewReply:
            try:
                msg = await nc.request(review_request_subject("polisen", verb), msgspec.json.encode(req), timeout=10)
                reply = _REPLY.decode(msg.data)
            except (NatsError, TimeoutError, msgspec.DecodeError) as exc:
                reply = ReviewReply(error=repr(exc))
            if reply.error:
                out.errors.append(f"review {verb}: {reply.error}")
            return reply

        holds = (await ask("list", ReviewRequest())).holds
        while len({h.envelope_id for h in holds}) < records and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            holds = (await ask("list", ReviewRequest())).holds
        out.held, out.records = len(holds), len({h.envelope_id for h in holds})
        out.recipients = tuple(sorted({h.recipient for h in holds}))
        for envelope_id in sorted({h.envelope_id for h in holds}):
            held_for = {h.recipient for h in holds if h.envelope_id == envelope_id}
            to = tuple(r for r in RELEASED_TO if r in held_for)
            reply = await ask("release", ReviewRequest(envelope_id=envelope_id, recipients=to))
            for r in reply.changed:
                out.released[r] = out.released.get(r, 0) + 1
        out.waiting = len((await ask("list", ReviewRequest())).holds)
    finally:
        await nc.close()
    return out
