"""Delivering an audited plan: every delivery into its recipient's inbox, then the input acknowledged.

Each delivery is a PRODUCER span the recipient continues; its PubAck comes from the recipient's
own INBOX stream. Only when every delivery of the batch is stored is the input acknowledged (one
write for the batch); if one failed, the input is given back to be routed again (deliveries
dedupe by their msg id ``<envelope id>:<recipient>``, audit drafts by the appender).
"""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from samband.observability import Spans, get_logger
from samband.observability.bus import AckPipeline, PubAck

from ._plan import Plan, RouterStats

__all__ = ["Deliverer"]

log = get_logger("samband.router")


class Deliverer:
    def __init__(self, pipeline: AckPipeline, stats: RouterStats, *, ack_timeout: float = 10.0) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.ack_timeout = ack_timeout
        self._spans: Spans | None = None

    @property
    def spans(self) -> Spans:
        if self._spans is None:  # made on first use, after the entry point has configured tracing
            self._spans = Spans()
        return self._spans

    async def deliver(self, plan: Plan) -> bool:
        """Deliver ``plan`` and acknowledge its input; False (input given back) if a delivery failed."""
        spans = self.spans
        sends = [
            spans.messaging("send", d.subject, SpanKind.PRODUCER, d.parent, message_id=d.msg_id)
            for d in plan.deliveries
        ]
        results = await self.pipeline.publish(
            [
                (d.subject, d.payload, span.headers({"Nats-Msg-Id": d.msg_id, "Samband-Origin": d.origin}))
                for d, span in zip(plan.deliveries, sends, strict=True)
            ],
            self.ack_timeout,
        )
        delivered = self.stats.delivered
        failed = []
        for d, span, r in zip(plan.deliveries, sends, results, strict=True):
            if isinstance(r, BaseException):
                spans.end(span, error=r)
                failed.append((d.recipient, r))
                continue
            spans.end(span)
            if not isinstance(r, PubAck) or not r.duplicate:
                delivered[d.recipient] = delivered.get(d.recipient, 0) + 1
        if failed:
            # Not acking the input: the batch is redelivered and deliveries dedupe by msg id.
            for recipient, err in failed:
                log.error("delivery not acknowledged; will retry", recipient=recipient, error=repr(err))
            for m in plan.acks:
                await m.nak(delay=1)
            return False
        await self.pipeline.send_bare([m.reply for m in plan.acks])  # only now the input, in one write
        return True
