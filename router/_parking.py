"""Parking: deliveries a recipient's inbox refused (or did not answer in time), kept in order and retried.

A recipient whose INBOX refuses (full, over its account's storage, gone) or is slow costs only its
own deliveries: each of them is stored in the router's PARKED stream on ``parked.<recipient>``
(durable; the input is acked once it is), and from then on every new delivery to that recipient is
parked behind them, so its order is kept. One task per parked recipient drains its subject in
order into its inbox, with backoff, and once nothing is left (and nothing is being parked) the
recipient is delivered to directly again. Everyone else's deliveries never wait for it: a direct
delivery waits at most ``deliver_timeout`` for its inbox's answer, then is parked.

A parked delivery keeps its ``Nats-Msg-Id`` (``<envelope id>:<recipient>``), so one that did reach
the inbox before its answer was lost is stored there once. A recipient's parking is bounded
(``max_msgs_per_subject`` of PARKED, broker_config/_quotas.py): beyond it, parking is refused, the
record is given back to INGEST and, after its tries, quarantined.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.observability import Tally, get_logger
from samband.observability.bus import AckPipeline, Backoff, PubAck, Puller
from samband.schemas.layout import PARKED_STREAM, parked_subject

from ._plan import Delivery, RouterStats

__all__ = ["Parking"]

log = get_logger("samband.router")

_SUBJECT, _MSG_ID, _ORIGIN = "Samband-Subject", "Samband-Msg-Id", "Samband-Origin"


def _unparked(m) -> tuple[str, bytes, dict[str, str]]:
    """A parked delivery as it was meant to go: to its inbox, under its own dedupe id."""
    h = m.headers or {}
    return h[_SUBJECT], m.data, {"Nats-Msg-Id": h[_MSG_ID], _ORIGIN: h[_ORIGIN]}


class _Lot:
    """One recipient's parking: how many parks are in flight, and a counter that moves with each."""

    __slots__ = ("generation", "inflight", "task")

    def __init__(self) -> None:
        self.inflight = 0
        self.generation = 0
        self.task: asyncio.Task | None = None


class Parking:
    def __init__(
        self,
        nc: nats.NATS,
        pipeline: AckPipeline,
        stats: RouterStats,
        *,
        ack_timeout: float = 10.0,
        deliver_timeout: float = 3.0,
        batch: int = 64,
    ) -> None:
        self.nc, self.js = nc, nc.jetstream()
        self.pipeline = pipeline
        self.stats = stats
        self.ack_timeout, self.deliver_timeout, self.batch = ack_timeout, deliver_timeout, batch
        self.lots: dict[str, _Lot] = {}
        self.refused = Tally(log, "deliveries refused by the recipient's inbox; parked")
        self.retries = Tally(log, "parked deliveries still refused; retrying with backoff")
        self._stop: asyncio.Event | None = None

    async def start(self, stop: asyncio.Event) -> None:
        """Resume draining every recipient that has deliveries parked."""
        self._stop = stop
        try:
            info = await self.js.stream_info(PARKED_STREAM, subjects_filter="parked.>")
        except NotFoundError:
            raise ConnectionError(f"Expected the {PARKED_STREAM} stream, got none: provision the deployment") from None
        for subject, count in (info.state.subjects or {}).items():
            if count:
                self._open(subject.split(".", 1)[1])

    def parked(self, recipient: str) -> bool:
        return recipient in self.lots

    def _open(self, recipient: str) -> _Lot:
        lot = self.lots.get(recipient)
        if lot is None:
            lot = self.lots[recipient] = _Lot()
            lot.task = asyncio.create_task(self._drain(recipient, lot), name=f"unpark-{recipient}")
        return lot

    async def park(
        self, deliveries: Sequence[Delivery], why: Sequence[BaseException | None]
    ) -> list[BaseException | None]:
        """Store ``deliveries`` in PARKED (in order per recipient); None for each stored, else the error."""
        lots = [self._open(d.recipient) for d in deliveries]
        for d, lot, err in zip(deliveries, lots, why, strict=True):
            lot.inflight += 1
            lot.generation += 1
            self.refused.add(
                d.recipient, recipient=d.recipient, error=repr(err) if err else "parked behind earlier ones"
            )
        try:
            results = await self.pipeline.publish(
                [
                    (
                        parked_subject(d.recipient),
                        d.payload,
                        {"Nats-Msg-Id": f"park:{d.msg_id}", _SUBJECT: d.subject, _MSG_ID: d.msg_id, _ORIGIN: d.origin},
                    )
                    for d in deliveries
                ],
                self.ack_timeout,
            )
        finally:
            for lot in lots:
                lot.inflight -= 1
        out: list[BaseException | None] = []
        for r in results:
            if isinstance(r, BaseException):
                out.append(r)
            else:
                out.append(None)
                self.stats.parked += 1
        return out

    async def _drain(self, recipient: str, lot: _Lot) -> None:
        durable = f"unpark-{recipient}"
        try:
            await self.js.add_consumer(
                PARKED_STREAM,
                ConsumerConfig(
                    durable_name=durable,
                    filter_subject=parked_subject(recipient),
                    ack_policy=AckPolicy.EXPLICIT,
                    # at most one batch out at a time: a restarted router gets the same ones back first
                    max_ack_pending=self.batch,
                    ack_wait=30,
                ),
            )
        except (JsError, NatsError) as exc:
            log.error("cannot follow parked deliveries", recipient=recipient, error=repr(exc))
            self.lots.pop(recipient, None)
            return
        puller = Puller(self.nc, PARKED_STREAM, durable, batch=self.batch, idle=1.0)
        await puller.start()
        backoff = Backoff(first=0.5, cap=30.0)
        held: list = []
        stop = self._stop or asyncio.Event()
        try:
            while not stop.is_set():
                if not held:
                    held = await puller.next_batch()
                if not held:
                    if await self._drained(recipient, lot, durable):
                        return
                    continue
                results = await self.pipeline.publish([_unparked(m) for m in held], self.deliver_timeout)
                ok = 0
                for r in results:  # in order: the first refusal stops the run, so the order is kept
                    if isinstance(r, BaseException):
                        break
                    ok += 1
                    if not (isinstance(r, PubAck) and r.duplicate):
                        self.stats.delivered[recipient] = self.stats.delivered.get(recipient, 0) + 1
                if ok:
                    await self.pipeline.send_bare([m.reply for m in held[:ok]])
                    backoff.reset()
                held = held[ok:]
                if held:
                    self.retries.add(recipient, recipient=recipient, waiting=len(held), error=repr(results[ok]))
                    for m in held:  # still ours while we wait
                        try:
                            await m.in_progress()
                        except (JsError, NatsError):
                            pass
                    await backoff.wait(stop)
        finally:
            for m in held:
                try:
                    await m.nak()
                except (JsError, NatsError):
                    pass
            await puller.close()

    async def _drained(self, recipient: str, lot: _Lot, durable: str) -> bool:
        """True (and the recipient no longer parked) when nothing is left or on its way to PARKED."""
        generation = lot.generation
        try:
            info = await self.js.consumer_info(PARKED_STREAM, durable)
        except (JsError, NatsError, TimeoutError):
            return False
        if info.num_pending or info.num_ack_pending or lot.inflight or lot.generation != generation:
            return False
        del self.lots[recipient]
        log.warning("parked deliveries all delivered; delivering directly again", recipient=recipient)
        return True

    async def close(self) -> None:
        tasks = [lot.task for lot in self.lots.values() if lot.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.refused.flush(force=True)
        self.retries.flush(force=True)
