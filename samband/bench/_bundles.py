"""Bench only: the router delivering one inbox message per recipient and batch, to measure that design.

docs/performance.md names one inbox message per recipient per router batch (a bundle) as the
design that would reach the Bacchus goal, and why samband does not deliver that way: every
agency's sink would have to unpack it, and exactly once into the inbox would become exactly once
per deduping sink. `BundlingDeliverer` delivers so in `samband bench`'s own router process
(``python -m samband.bench._router --bundle``), handed in through the router's public
``deliverer`` attribute, so the figure is measured rather than projected. The router has no such
switch, and nothing but the bench reads a bundle (`copies`).

A bundle holds its copies as JSON lines, in the batch's order, under its recipient's inbox
subject for the record type; its ``Nats-Msg-Id`` is the hash of its copies' own ids, and one
PRODUCER span per bundle is linked to each copy's decide span (the OTel messaging conventions'
batch send, as the audit append's). A bundle the inbox refuses has each of its copies parked,
as samband parks a refused delivery.
"""

from __future__ import annotations

import hashlib
from typing import Any

from opentelemetry.trace import SpanKind

from samband.observability import MessageSpan, messaging_attributes
from samband.observability.bus import PubAck
from samband.router import Deliverer, Delivery

__all__ = ["BundlingDeliverer", "copies"]


def copies(data: bytes) -> list[bytes]:
    """The copies a bundle (or a plain delivery, one copy) holds."""
    return data.split(b"\n")


class BundlingDeliverer(Deliverer):
    """`Deliverer` with one message per inbox subject and batch (see the module's docstring)."""

    @classmethod
    def like(cls, d: Deliverer) -> BundlingDeliverer:
        return cls(d.pipeline, d.stats, d.parking, ack_timeout=d.ack_timeout, deliver_timeout=d.deliver_timeout)

    async def send(self, direct: list[tuple[Any, Delivery]], side: list) -> tuple[list, list]:
        groups: dict[str, list[tuple[Any, Delivery]]] = {}
        for it, d in direct:
            groups.setdefault(d.subject, []).append((it, d))
        spans = self.spans
        sends: list[MessageSpan] = []
        items: list[tuple[str, bytes, dict[str, str]]] = []
        for subject, members in groups.items():
            attributes = messaging_attributes("send", subject, None, {"messaging.batch.message_count": len(members)})
            span = spans.batch(f"send {subject}", SpanKind.PRODUCER, (d.parent for _, d in members), attributes)
            keys = "\n".join(d.msg_id for _, d in members).encode()
            headers = span.headers({"Nats-Msg-Id": "bundle:" + hashlib.sha256(keys).hexdigest()[:32]})
            sends.append(span)
            items.append((subject, b"\n".join(d.payload for _, d in members), headers))
        results = await self.pipeline.publish(items + side, self.deliver_timeout)
        delivered = self.stats.delivered
        refused: list[tuple[Any, Delivery, BaseException | None]] = []
        for members, span, r in zip(groups.values(), sends, results, strict=False):
            if isinstance(r, BaseException):
                spans.end(span, error=r)
                refused += [(it, d, r) for it, d in members]
                continue
            spans.end(span)
            if not isinstance(r, PubAck) or not r.duplicate:
                recipient = members[0][1].recipient
                delivered[recipient] = delivered.get(recipient, 0) + len(members)
        return refused, results[len(groups) :]
