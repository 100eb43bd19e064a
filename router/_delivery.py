"""Delivering an audited plan: every delivery into its recipient's inbox (or parked), then the input acknowledged.

Each delivery is a PRODUCER span the recipient continues; its PubAck comes from the recipient's
own INBOX stream. A recipient that refuses or does not answer within ``deliver_timeout`` gets
that delivery, and every later one, parked (`Parking`) while the others' go on. Beside the
deliveries go the batch's refusals into their origins' dead letters and its quarantined records
into QUARANTINE, all in one write. An input message is acknowledged once its audit records are
stored and each of its deliveries is in its inbox or parked (one write for the batch); one that
could be neither, or whose quarantine was not stored, is given back to be routed again
(deliveries dedupe by their msg id ``<envelope id>:<recipient>``, audit records by the appender),
and after its tries it is quarantined (`_plan.MAX_TRIES`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib

import msgspec
from opentelemetry.trace import SpanKind

from samband.observability import MessageSpan, Spans, Tally, get_logger
from samband.observability.bus import AckPipeline, Item, PubAck
from samband.schemas import MAX_RAW_BYTES, DeadLetter, RawRef
from samband.schemas.layout import deadletter_subject, ingest_stream, quarantine_subject

from ._plan import Delivery, Plan, RouterStats
from ._plan import Item as Planned

__all__ = ["Deliverer"]

log = get_logger("samband.router")

_encode = msgspec.json.Encoder().encode


def dead_letter(it: Planned, now: _dt.datetime) -> Item:
    """The origin's dead letter for a refused record: the rule, the reason and the raw record."""
    assert it.refusal is not None
    raw = it.msg.data
    keep = len(raw) <= MAX_RAW_BYTES
    where = f"{ingest_stream(it.origin)} #{it.seq}"
    letter = DeadLetter(
        agency=it.origin,
        kind=it.refusal.rule,
        reason=it.refusal.reason,
        field=it.refusal.field,
        position=where,
        source="router",
        offset=0,
        length=len(raw),
        raw=raw if keep else None,
        raw_ref=None
        if keep
        else RawRef(source=where, offset=0, length=len(raw), sha256=hashlib.sha256(raw).hexdigest()),
        rejected_at=now,
    )
    msg_id = f"dlq:router:{it.origin}:{it.seq}"
    return deadletter_subject(it.origin, it.refusal.rule), _encode(letter), {"Nats-Msg-Id": msg_id}


def quarantined(it: Planned, stage: str) -> Item:
    """The record as it came, for QUARANTINE, with why, how often it was tried and where it was."""
    assert it.quarantine is not None
    return (
        quarantine_subject(it.origin, stage),
        it.msg.data,
        {
            "Nats-Msg-Id": f"quarantine:{it.origin}:{it.seq}",
            "Samband-Reason": it.quarantine,
            "Samband-Attempts": str(it.tries),
            "Samband-Ingest": f"{ingest_stream(it.origin)} #{it.seq}",
        },
    )


def _headers(d: Delivery, span: MessageSpan) -> bytes | dict[str, str]:
    """A delivery's headers, framed here: every value is the router's own (the envelope id passed the
    edge's UUID/ULID check, the slugs are the deployment's, the traceparent is formatted from ids),
    which spares the pipeline's checks per delivery. A tracestate comes from the sender's headers:
    with one, the pipeline frames and checks them."""
    if span.tracestate:
        return span.headers({"Nats-Msg-Id": d.msg_id, "Samband-Origin": d.origin})
    tp = span.traceparent
    trace = f"traceparent: {tp}\r\n" if tp else ""
    return f"NATS/1.0\r\nNats-Msg-Id: {d.msg_id}\r\nSamband-Origin: {d.origin}\r\n{trace}\r\n".encode()


class Deliverer:
    def __init__(
        self,
        pipeline: AckPipeline,
        stats: RouterStats,
        parking,
        *,
        ack_timeout: float = 10.0,
        deliver_timeout: float = 3.0,
    ) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.parking = parking
        self.ack_timeout = ack_timeout
        self.deliver_timeout = deliver_timeout
        self.letters = Tally(log, "dead letter not stored in the origin's DEADLETTER")
        self.given_back = Tally(log, "record given back to be routed again")
        self._spans: Spans | None = None

    @property
    def spans(self) -> Spans:
        if self._spans is None:  # made on first use, after the entry point has configured tracing
            self._spans = Spans()
        return self._spans

    async def send(
        self, direct: list[tuple[Planned, Delivery]], side: list[Item]
    ) -> tuple[list[tuple[Planned, Delivery, BaseException | None]], list]:
        """Each delivery into its inbox and ``side`` beside them, in one write: the deliveries refused
        (to park, with why) and ``side``'s results."""
        spans = self.spans
        sends = [
            spans.messaging("send", d.subject, SpanKind.PRODUCER, d.parent, message_id=d.msg_id) for _, d in direct
        ]
        items = [(d.subject, d.payload, _headers(d, span)) for (_, d), span in zip(direct, sends, strict=True)]
        results = await self.pipeline.publish(items + side, self.deliver_timeout)
        delivered = self.stats.delivered
        refused: list[tuple[Planned, Delivery, BaseException | None]] = []
        for (it, d), span, r in zip(direct, sends, results, strict=False):
            if isinstance(r, BaseException):
                spans.end(span, error=r)
                refused.append((it, d, r))
                continue
            spans.end(span)
            if not isinstance(r, PubAck) or not r.duplicate:
                delivered[d.recipient] = delivered.get(d.recipient, 0) + 1
        return refused, results[len(direct) :]

    async def deliver(self, plan: Plan, now: _dt.datetime) -> bool:
        """Deliver (or park) ``plan``'s copies, store its dead letters and quarantined records, and
        acknowledge its input; False if a record had to be given back."""
        parking = self.parking
        direct: list[tuple[Planned, Delivery]] = []
        parked: list[tuple[Planned, Delivery, BaseException | None]] = []
        side: list[tuple[Planned, Item, bool]] = []  # (item, message, must be stored before the ack)
        for it in plan.items:
            for d in it.deliveries:
                if parking.parked(d.recipient):
                    parked.append((it, d, None))
                else:
                    direct.append((it, d))
            if it.refusal is not None:
                side.append((it, dead_letter(it, now), False))
            elif it.quarantine is not None:
                side.append((it, quarantined(it, "route"), True))
        refused, side_results = await self.send(direct, [m for _, m, _ in side])
        parked += refused
        failed: set[int] = set()  # ids of items given back
        for (it, (subject, _, _), must), r in zip(side, side_results, strict=True):
            if not isinstance(r, BaseException):
                if it.refusal is not None:
                    self.stats.dead_letters += 1
                    by_origin = self.stats.dead_lettered
                    by_origin[it.origin] = by_origin.get(it.origin, 0) + 1
                continue
            if must:
                failed.add(id(it))
                self.given_back.add("quarantine", stage="quarantine", error=repr(r))
            else:  # the refusal is audited; its dead letter is a courtesy the origin's own stream may refuse
                self.letters.add(it.origin, origin=it.origin, subject=subject, error=repr(r))
        if parked:
            # in each recipient's order: the ones parked behind earlier ones first, then today's refusals
            outcome = await parking.park([d for _, d, _ in parked], [e for _, _, e in parked])
            for (it, d, _), err in zip(parked, outcome, strict=True):
                if err is not None:
                    failed.add(id(it))
                    self.given_back.add(d.recipient, stage="park", recipient=d.recipient, error=repr(err))
        acks = [it.msg.reply for it in plan.items if id(it) not in failed]
        await self.pipeline.send_bare(acks)  # only now the input, in one write
        for it in plan.items:
            if id(it) in failed:
                await it.msg.nak(delay=2)
        self.letters.flush()
        self.given_back.flush()
        return not failed
