"""The outbound runtime: map each native record, publish it (or its dead letter), window by window.

At most ``window`` publishes are unacknowledged, and their acks are settled together
(batched, not one round trip per record) before the next window is published: with a second
window in flight, a record published after one whose publish was lost could be stored before
that one's retry (a broker restart mid-load showed it), and the export's order is kept. The
publishes go through an `AckPipeline`: one write per few records, one reply subscription for
all acks, nothing sent while disconnected. A publish the broker did not acknowledge (it was
unreachable, restarting, or its stream leader moved) is published again, in the original order and with the same
``Nats-Msg-Id``, with backoff, until it is acknowledged or ``retry_for`` runs out: the dedupe
id makes the retry safe, so nothing is lost and nothing is stored twice. Only after a window is
acknowledged are the sources' positions advanced and saved, so a restart continues after the
last acknowledged record. Each record gets its own PRODUCER span (`ProducerSpans`), ended on
its ack, and carries its ``traceparent`` in the headers and the envelope. When a followed
source has nothing more for now (`IDLE`), the records held are published and settled at once:
a partial group never waits for the next record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats

from samband.observability import MessageSpan, ProducerSpans, get_logger
from samband.observability.bus import AckPipeline, PubAck, PublishBatch
from samband.schemas import Envelope, SchemaError, encode

from ._deadletter import dead_letter_for
from ._derive import derive_outcome
from ._errors import PublishFailed, RejectedRecord
from ._mapping import AgencyMapping
from ._sources import Checkpoint, Idle, NativeRecord
from ._state import Positions
from ._transforms import FieldError

__all__ = ["PublishSummary", "map_record", "publish_records"]

log = get_logger("samband.adapters")

SEND_EVERY = 16  # records per write (and turn of the event loop) while a window fills


@dataclass
class PublishSummary:
    read: int = 0
    published: int = 0
    duplicates: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    retries: int = 0
    outcomes: int = 0  # outcomes derived from the records and published beside them (derive_outcomes)

    @property
    def dead_lettered(self) -> int:
        return len(self.rejected)


def map_record(mapping: AgencyMapping, item: NativeRecord) -> tuple[str, Envelope]:
    """The native key and the envelope for one record, or a `RejectedRecord` naming the field and position."""
    try:
        return str(mapping.key(item.value)), mapping.to_envelope(item.value)
    except FieldError as exc:
        raise RejectedRecord(exc.reason, kind=exc.kind, field=exc.field, **_rejection_context(item)) from None
    except KeyError as exc:
        raise RejectedRecord(
            "Expected a value, got none (missing required field)",
            kind="missing-field",
            field=f"$.{exc.args[0]}",
            **_rejection_context(item),
        ) from None
    except (ValueError, TypeError, SchemaError, msgspec.ValidationError) as exc:
        kind = "identifier" if type(exc).__name__ == "InvalidIdentifier" else "value"
        raise RejectedRecord(str(exc), kind=kind, **_rejection_context(item)) from None


def _rejection_context(item: NativeRecord) -> dict[str, Any]:
    return dict(position=item.position, raw=item.raw, source=item.source, offset=item.offset)


@dataclass(slots=True)
class _Entry:
    item: Any
    subject: str = ""
    payload: bytes = b""
    headers: dict[str, str] | None = None
    result: Any = None  # its PubAck, or why it is not (yet) stored
    is_dead_letter: bool = False
    span: MessageSpan | None = None
    derived: bool = False  # an outcome derived from the record before it


class _Publisher:
    """A window's publishes on one `AckPipeline` batch, sent every few records, settled together."""

    def __init__(self, nc: nats.NATS, *, ack_timeout: float, retry_for: float | None, summary: PublishSummary) -> None:
        self.nc, self.pipe = nc, AckPipeline(nc)
        self.ack_timeout, self.retry_for, self.summary = ack_timeout, retry_for, summary
        self.batch: PublishBatch | None = None
        self.unsent: list[_Entry] = []

    def add(self, e: _Entry) -> None:
        self.unsent.append(e)

    async def flush(self) -> PublishBatch:
        """Send what was added since the last flush (one write), after everything before it; the open batch."""
        if self.batch is None:
            self.batch = await self.pipe.open()
        batch, unsent, self.unsent = self.batch, self.unsent, []
        await self.pipe.send(batch, [(e.subject, e.payload, e.headers) for e in unsent])
        return batch

    async def settle(self, entries: list[_Entry]) -> None:
        """Wait for every ack of the window; re-publish the unacknowledged ones until they are acknowledged."""
        batch = await self.flush()
        started, delay = time.monotonic(), 0.1
        todo = [e for e in entries if e.subject]
        self.batch = None
        while True:
            for e, r in zip(todo, await self.pipe.wait(batch, self.ack_timeout)):
                e.result = r
            failed = [e for e in todo if isinstance(e.result, BaseException)]
            if not failed:
                return
            first = failed[0]
            if self.nc.is_closed:
                raise PublishFailed(
                    f"Expected an open connection to publish {_where(first)}, got a closed one"
                ) from first.result
            if self.retry_for is not None and time.monotonic() - started > self.retry_for:
                raise PublishFailed(
                    f"Expected an ack for {_where(first)} from the broker, "
                    f"got {first.result!r} for {self.retry_for:.0f}s"
                ) from first.result
            log.warning(
                "publish not acknowledged; retrying", pending=len(failed), error=repr(first.result), delay=delay
            )
            self.summary.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            todo = failed  # in the original order, with the same Nats-Msg-Id
            batch = await self.pipe.open()
            await self.pipe.send(batch, [(e.subject, e.payload, e.headers) for e in todo])

    async def close(self) -> None:
        await self.pipe.close()


def _where(e: _Entry) -> str:
    return getattr(e.item, "position", "?")


async def publish_records(
    nc: nats.NATS,
    mapping: AgencyMapping,
    items: Iterable[NativeRecord | RejectedRecord] | AsyncIterable[Any],
    *,
    window: int = 256,
    ack_timeout: float = 10.0,
    retry_for: float | None = 60.0,
    positions: Positions | None = None,
    dead_letters: bool = True,
    progress: Callable[[Any], None] | None = None,
    trace: bool = True,
    derive_outcomes: bool = False,
    summary: PublishSummary | None = None,
) -> PublishSummary:
    """Map and publish each record to ``out.<record type>`` with ``Nats-Msg-Id`` = ``<agency>:<native key>``.

    A record that cannot be parsed, mapped or validated is dead-lettered to ``dlq.<kind>`` (in
    the agency's own account) and counted in ``summary.rejected``; the run goes on. With
    ``positions``, each source's position is saved after every acknowledged window.
    ``retry_for=None`` retries an unreachable broker for ever. ``derive_outcomes``: beside each
    record with an amount, publish the `Outcome` derived from it (``<agency>:<native key>:outcome``,
    see `derive_outcome`), counted in ``summary.outcomes``. ``summary``: counted into this one
    (the metrics endpoint reads it while the run goes on), else a new one.
    """
    run = _Outbound(
        nc,
        mapping,
        window=window,
        ack_timeout=ack_timeout,
        retry_for=retry_for,
        positions=positions,
        dead_letters=dead_letters,
        progress=progress,
        trace=trace,
        derive_outcomes=derive_outcomes,
        summary=summary,
    )
    return await run.run(items)


class _Outbound:
    """One `publish_records` run as a chain of named stages.

    ``route`` sends each item on: a native record to ``native`` (mapped, then ``enqueue``d as a
    ``message``, and its derived outcome beside it), a rejected one to ``dead_letter``, a
    checkpoint into the window, an `IDLE` to ``settle``. ``enqueue`` adds to the window and
    settles it when full; ``settle`` waits for the window's acks, then ``acknowledged`` counts,
    ends spans, advances positions and reports progress, and ``save`` writes the positions.
    """

    def __init__(
        self,
        nc: nats.NATS,
        mapping: AgencyMapping,
        *,
        window: int,
        ack_timeout: float,
        retry_for: float | None,
        positions: Positions | None,
        dead_letters: bool,
        progress: Callable[[Any], None] | None,
        trace: bool,
        derive_outcomes: bool,
        summary: PublishSummary | None = None,
    ) -> None:
        self.summary = summary if summary is not None else PublishSummary()
        self.publisher = _Publisher(nc, ack_timeout=ack_timeout, retry_for=retry_for, summary=self.summary)
        self.mapping, self.agency = mapping, mapping.agency
        self.window, self.positions, self.progress = window, positions, progress
        self.dead_letters, self.derive_outcomes = dead_letters, derive_outcomes
        self.spans = ProducerSpans({"samband.agency": self.agency}) if trace else None
        self.pending: list[_Entry] = []  # the window: published, dead-lettered or held, not yet settled
        self.subjects: dict[type, str] = {}  # record type -> outbound subject
        self.last_save = time.monotonic()

    async def run(self, items: Iterable[Any] | AsyncIterable[Any]) -> PublishSummary:
        try:
            if isinstance(items, AsyncIterable):
                async for item in items:
                    await self.route(item)
            else:
                for item in items:
                    await self.route(item)
            await self.settle(force_save=True)
        finally:
            await self.publisher.close()
        return self.summary

    async def route(self, item: Any) -> None:
        if isinstance(item, NativeRecord):
            await self.native(item)
        elif isinstance(item, Checkpoint):
            self.pending.append(_Entry(item))  # its position advances with the window it is in
        elif isinstance(item, Idle):
            if self.pending:
                await self.settle(force_save=True)
        elif isinstance(item, RejectedRecord):
            await self.dead_letter(item)
        else:
            raise TypeError(f"Expected a NativeRecord, RejectedRecord or Checkpoint, got `{type(item).__name__}`")

    async def native(self, item: NativeRecord) -> None:
        try:
            key, env = map_record(self.mapping, item)
        except RejectedRecord as rej:
            rej.source, rej.mark = item.source, item.mark
            await self.dead_letter(rej)
            return
        self.summary.read += 1
        await self.enqueue(self.message(item, key, env))
        if self.derive_outcomes:
            derived = derive_outcome(env, self.agency)
            if derived is not None:
                await self.enqueue(self.message(item, f"{key}:outcome", derived, derived=True))

    def message(self, item: NativeRecord, key: str, env: Envelope, *, derived: bool = False) -> _Entry:
        """The entry for one envelope: its subject, dedupe id, PRODUCER span and trace headers, and its bytes."""
        record_class = type(env.record)
        subject = self.subjects.get(record_class)
        if subject is None:
            subject = self.subjects[record_class] = f"out.{env.record_type}"
        msg_id = f"{self.agency}:{key}"
        headers = {"Nats-Msg-Id": msg_id}
        span = None
        if self.spans is not None:
            span = self.spans.start(subject, msg_id)
            traceparent = span.traceparent
            if traceparent:
                headers["traceparent"] = traceparent
                if span.tracestate:
                    headers["tracestate"] = span.tracestate
                env = _replace(env, traceparent=traceparent)
        return _Entry(item, subject, encode(env), headers, span=span, derived=derived)

    async def enqueue(self, e: _Entry) -> None:
        self.publisher.add(e)
        pending = self.pending
        pending.append(e)
        n = len(pending)
        if n >= self.window:
            await self.settle()
        elif not n % SEND_EVERY:
            # one write for the last few records, then a turn of the event loop so nats-py's
            # flusher sends it and its reader takes the acks in: the broker stores these while
            # the next records are mapped
            await self.publisher.flush()
            await asyncio.sleep(0)

    async def dead_letter(self, item: RejectedRecord) -> None:
        summary = self.summary
        summary.read += 1
        summary.rejected.append(item)
        log.warning("record rejected", position=item.position, kind=item.kind, reason=str(item))
        e = _Entry(item, is_dead_letter=True)
        if self.dead_letters:
            e.subject, e.payload, e.headers = dead_letter_for(self.agency, item)
            self.publisher.add(e)
        self.pending.append(e)
        if len(self.pending) >= self.window:
            await self.settle()

    async def settle(self, *, force_save: bool = False) -> None:
        """Wait for the window's acks (re-publishing what was not acknowledged), then account for it."""
        entries = self.pending
        try:
            await self.publisher.settle(entries)
        except BaseException as exc:
            if self.spans is not None:
                for e in entries:
                    if e.span is not None and not isinstance(e.result, PubAck):
                        self.spans.end(e.span, error=exc)
            raise
        self.acknowledged(entries)
        entries.clear()
        self.save(force_save)

    def acknowledged(self, entries: list[_Entry]) -> None:
        """Count each stored entry, end its span, advance its source's position and report it, in order."""
        summary, spans, positions, progress = self.summary, self.spans, self.positions, self.progress
        for e in entries:
            ack = e.result
            if ack is not None and not e.is_dead_letter:
                if ack.duplicate:
                    summary.duplicates += 1
                elif e.derived:
                    summary.outcomes += 1
                else:
                    summary.published += 1
                if e.span is not None:
                    spans.end(e.span, {"messaging.nats.stream.sequence": ack.seq})  # type: ignore[union-attr]
            if positions is not None and getattr(e.item, "mark", None) is not None:
                positions.set(e.item.source, e.item.mark)
            if progress is not None:
                progress(e.item)

    def save(self, force: bool) -> None:
        """Save the positions after a forced settle, or when the last save is more than 0.2 s old."""
        if self.positions is not None and (force or time.monotonic() - self.last_save > 0.2):
            self.positions.save()
            self.last_save = time.monotonic()


_replace = msgspec.structs.replace
