"""The appender: the log's one writer, which the router calls and which owns the log's state.

The router plans a batch into drafts (one `AuditRecord` per decision) and hands them to
`Appender.append`, which stores them as **one chain of messages** (`_batch.chain`: bundle, leaf
hashes, views, signed checkpoint last; nothing can be stored inside it) and returns only once all
are stored: nothing is delivered before its entry is durable (fail closed: it raises
`AuditUnavailable` instead). The checkpoint commits the append: a chain cut short (the broker
gone or full mid-append, the router killed) has none and is not in the log. Until 2026-11-27 an
append was one atomic batch, 16 times the broker's cost on one replica (docs/audit.md). The next
call first reads what the stream holds now (`_resume.py`): a batch of another writer is checked
and built upon, an append cut short and anything else is foreign, gone past with a signed
`Incident` entry. Pairs (envelope id, recipient) audited before are skipped, so a record routed
again after a crash is not audited twice.

`start()` takes the one-writer lease first (`_lease.py`): a second router waits there. Then it
drains auditors' lookups (`_lookups.py`) into the log: each append carries those waiting, and
when the router is idle the appender appends them on its own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec
import nats
from opentelemetry.trace import SpanContext, SpanKind

from samband.schemas.layout import AUDIT_LOG_SUBJECT

from .._logging import get_logger
from .._message_spans import Spans
from .._tracing import messaging_attributes
from ..bus import AckPipeline, PubAck, PublishRefused
from ._batch import build_batch, chain
from ._checkpoint import LogKey
from ._entry import AuditRecord, Entry, Lookup, lookup_key
from ._errors import AuditUnavailable, LeaseLost
from ._lease import Lease
from ._lookups import LookupIntake
from ._resume import LogState, audited_after, incident, recent_keys, resume

__all__ = ["LOOKUP_BIND_EVERY", "RECENT_AUDITED", "Appender", "AuditAppender", "AuditDraft"]

log = get_logger("samband.audit")

# Pairs audited before a crash are remembered from the log's tail, so a redelivered record is
# delivered again (deduped by its inbox msg id) but never audited twice.
RECENT_AUDITED = 65_536
_WRONG_LAST_SEQUENCE = 10071
_WRONG_LAST_MSG_ID = 10070  # a message stored between two of the chain's: the rest of it is refused
# How long drained lookups wait for the router's next append before the appender appends them alone.
LOOKUP_IDLE = 0.5
LOOKUP_BIND_EVERY = 2.0  # seconds between two tries to bind the lookups' consumer
_APPEND_ATTRIBUTES = messaging_attributes("send", AUDIT_LOG_SUBJECT, None, None)


class _Moved(AuditUnavailable):
    """The append was refused: the stream's last sequence is not the one this writer knew."""


def _entry(d: AuditDraft) -> AuditRecord:
    """The stored entry: the draft's record with its INGEST sequence (a planner that set it already
    spares a copy of every record)."""
    r = d.record
    return r if r.ingest_seq == d.ingest_seq else msgspec.structs.replace(r, ingest_seq=d.ingest_seq)


class AuditDraft(msgspec.Struct, frozen=True):
    """One decision to audit: its dedupe key ``<envelope id>:<recipient>``, the record, the span the
    append's span links to, and the INGEST sequence of the record decided on (0: none)."""

    key: str
    record: AuditRecord
    parent: SpanContext | None = None
    ingest_seq: int = 0


class AuditAppender(Protocol):
    """What the router needs of the log's writer (the bench passes its own, see samband.bench)."""

    async def start(self) -> None: ...

    async def append(self, drafts: Sequence[AuditDraft]) -> int: ...

    async def close(self) -> None: ...


class Appender:
    """Appends drafts to the log as one chain of messages each, checkpointed, under the writer's lease."""

    def __init__(
        self,
        nc: nats.NATS,
        *,
        key: LogKey | None = None,
        ack_timeout: float = 10.0,
        pipeline: AckPipeline | None = None,
        lease: Lease | None = None,
        on_standby: Callable[[str], None] | None = None,
        lookups: bool = True,
    ) -> None:
        self.nc = nc
        self.key = key
        self.ack_timeout = ack_timeout
        self.pipeline = pipeline or AckPipeline(nc)
        self.lease = lease or Lease(nc)
        self.on_standby = on_standby
        self.state: LogState | None = None
        self.appended = 0  # entries this appender stored
        self.incidents = 0
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._foreign: list = []  # foreign messages found and not yet noted in an incident entry
        self._stale = True
        self._spans: Spans | None = None
        self._lock = asyncio.Lock()  # the router's appends and the idle appends of lookups, one at a time
        self._intake = LookupIntake(nc) if lookups else None
        self._lookups: list[tuple[object, Lookup]] = []  # drained, not yet stored
        self._drainer: asyncio.Task | None = None

    @property
    def spans(self) -> Spans:
        if self._spans is None:  # made on first use, after the entry point has configured tracing
            self._spans = Spans()
        return self._spans

    async def start(self) -> None:
        """Take the lease (a standby waits here, saying who leads), then read where the log stands."""
        if self.key is None:
            raise AuditUnavailable(
                "Expected the log's signing key (keys/audit-signing.key), the appender was given none"
            )
        await self.pipeline.start()
        # a writer that lost the lease and waits for it again drains no lookups meanwhile
        await self._stop_draining()
        if self._intake is not None:
            await self._intake.close()
        await self.lease.acquire(on_wait=self._standing_by)
        # Read anew from the last signed checkpoint, not from what this writer knew: a writer that read
        # the stream while another led may have seen that one's append half sent (a chain in progress
        # reads as cut short) and gone past it; building on that would fork the log.
        self.state, self._foreign, self._stale = None, [], True
        await self._resume()
        if self._intake is not None:
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        """Take auditors' lookups as they come; append them alone when no router append took them.
        Until the lookups' consumer is bound (a deployment provisioned before the lookups stream, a
        broker slow to answer at start) it tries again every `LOOKUP_BIND_EVERY` seconds, saying so once."""
        assert self._intake is not None
        said = False
        while not await self._intake.start():
            if not said:
                log.warning(
                    "lookups not drained yet: the lookups stream or its consumer did not answer: trying again",
                    every_s=LOOKUP_BIND_EVERY,
                )
                said = True
            await asyncio.sleep(LOOKUP_BIND_EVERY)
        if said:
            log.info("auditors' lookups drained from now on")
        while True:
            got = await self._intake.fetch(timeout=1.0)
            if got is None:
                await asyncio.sleep(0.5)
                continue
            if not got:
                continue
            self._take_in(got)
            await asyncio.sleep(LOOKUP_IDLE)
            if not self._lookups:
                continue
            try:
                async with self._lock:
                    await self._append([])
            except LeaseLost:
                return
            except AuditUnavailable as exc:
                log.warning("auditors' lookups not appended yet: retrying", error=str(exc))

    def _take_in(self, got: list[tuple[object, Lookup]]) -> None:
        """Add fetched lookups to those waiting; a redelivery of one still waiting replaces it (its newest
        delivery is the one to ack), so the list stays one per lookup however long an append is refused."""
        waiting = {e.lookup_seq: k for k, (_, e) in enumerate(self._lookups)}
        for m, e in got:
            k = waiting.get(e.lookup_seq)
            if k is None:
                waiting[e.lookup_seq] = len(self._lookups)
                self._lookups.append((m, e))
            else:
                self._lookups[k] = (m, e)

    def _standing_by(self, holder: str) -> None:
        log.warning("audit lease held by another router: standing by", holder=holder)
        if self.on_standby is not None:
            self.on_standby(holder)

    async def close(self) -> None:
        await self._stop_draining()
        if self._intake is not None:
            await self._intake.close()
        await self.pipeline.close()
        await self.lease.release()

    async def _stop_draining(self) -> None:
        """Cancel the lookups' drainer and wait for its end, without swallowing a cancellation of the
        caller: a standby stopped while it takes its drainer down must not go on to wait for the lease."""
        drainer, self._drainer = self._drainer, None
        if drainer is None:
            return
        while not drainer.done():
            drainer.cancel()
            # Its end, cancelled or failed; the caller's own cancellation propagates. Asked again after a
            # while: Python 3.11's `asyncio.wait_for` (inside nats-py's fetch) loses a cancel that comes as
            # its awaited message does (CPython gh-86296), and then the drainer fetches on as if never asked.
            await asyncio.wait({drainer}, timeout=0.2)
        if not drainer.cancelled() and drainer.exception() is not None:
            log.warning("auditors' lookups drainer ended with an error", error=repr(drainer.exception()))

    def audited(self, key: str) -> bool:
        """Whether the pair ``key`` is among the log's recent entries."""
        return key in self._recent

    async def append(self, drafts: Sequence[AuditDraft]) -> int:
        """Append ``drafts`` (those not audited before) as one batch; how many were stored. Raises
        `AuditUnavailable` unless all are (`LeaseLost` once another writer holds the lease)."""
        async with self._lock:
            return await self._append(drafts)

    def _entries(self, todo: list[AuditDraft]) -> tuple[list[Entry], list]:
        """The entries of one append (an incident first, the decisions, the lookups waiting) and the
        lookups' messages to ack once they are stored."""
        entries: list[Entry] = [_entry(d) for d in todo]
        if self._foreign:
            entries.insert(0, incident(self._foreign))
        seen: set[int] = set()
        for _, e in self._lookups:  # one redelivered while waiting, or stored before a crash: once
            if e.lookup_seq not in seen and lookup_key(e.lookup_seq) not in self._recent:
                seen.add(e.lookup_seq)
                entries.append(e)
        return entries, [m for m, _ in self._lookups]

    async def _append(self, drafts: Sequence[AuditDraft]) -> int:
        self.lease.check()
        if self._stale:
            await self._resume()
        todo = [d for d in drafts if d.key not in self._recent]
        if not todo and not self._foreign and not self._lookups:
            return 0
        for again in (False, True):
            if again:
                # Something was stored after what this writer knew: read it (another writer's batch is
                # built upon, anything else noted as foreign in an incident entry) and try once more,
                # if this writer still leads (else what it read may be another's append half sent).
                self.lease.check()
                await self._resume()
                todo = [d for d in todo if d.key not in self._recent]
            entries, taken = self._entries(todo)
            if not entries:
                await self._taken(taken)
                return 0
            try:
                await self._store(todo, entries)
                break
            except _Moved:
                if again:
                    self._stale = True
                    raise
            except AuditUnavailable:
                self._stale = True
                raise
        if self._foreign:
            self.incidents += 1
            log.warning(
                "foreign messages in the audit stream noted in a signed incident entry", count=len(self._foreign)
            )
            self._foreign = []
        for d in todo:
            self._remember(d.key)
        for e in entries:
            if isinstance(e, Lookup):
                self._remember(lookup_key(e.lookup_seq))
        await self._taken(taken)
        self.appended += len(todo)
        return len(todo)

    async def _taken(self, taken: list) -> None:
        """The lookups' messages whose entries are in the log now: off the list, acked."""
        if taken and self._intake is not None:
            self._lookups = self._lookups[len(taken) :]
            await self._intake.ack(taken)

    async def _store(self, todo: list[AuditDraft], entries: list[Entry]) -> None:
        state = self.state
        assert state is not None
        self.lease.check()
        built = build_batch(
            entries,
            size=state.size,
            frontier=state.frontier,
            after=state.last_seq,
            term=self.lease.term,
            ingest_high=state.ingest_high,
            key=self.key,  # type: ignore[arg-type]  # checked in start()
        )
        spans = self.spans
        # One PRODUCER span for the append (one chain of messages for the router's batch), linked to each
        # record's span (OTel messaging conventions for batches): not one per decision, which at
        # Bacchus fan-out was half the router's spans (`samband bench --profile`, docs/performance.md).
        send = spans.batch(
            f"send {AUDIT_LOG_SUBJECT}",
            SpanKind.PRODUCER,
            (d.parent for d in todo),
            {
                **_APPEND_ATTRIBUTES,
                "messaging.batch.message_count": len(built.messages),
                "samband.audit.entries": len(entries),
            },
        )
        items = chain(built.messages, f"{self.lease.term}-{state.last_seq}-{secrets.token_hex(4)}", state.last_seq)
        n = len(items)
        results = await self.pipeline.publish(items, self.ack_timeout)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        commit = results[-1]
        if failed is not None:
            spans.end(send, error=failed)
        else:
            spans.end(send, {"messaging.nats.stream.sequence": getattr(commit, "seq", 0)})
        if isinstance(failed, PublishRefused):
            if failed.error.err_code in (_WRONG_LAST_SEQUENCE, _WRONG_LAST_MSG_ID):
                raise _Moved(
                    f"Expected the audit append to follow stream seq {state.last_seq}, got {failed}: "
                    "the stream moved under this writer; reading what it holds now"
                ) from failed
            raise AuditUnavailable(f"Expected the audit append to be stored, got a refusal: {failed}") from failed
        if failed is not None:
            raise AuditUnavailable(f"Expected the audit append to be acknowledged, got {failed}") from failed
        # a duplicate (a msg id of the chain stored before it) is not the writer's message: not committed
        if not all(
            isinstance(r, PubAck) and r.seq == state.last_seq + i and not r.duplicate for i, r in enumerate(results, 1)
        ):
            raise AuditUnavailable(
                f"Expected the append committed as stream seq {state.last_seq + 1}..{state.last_seq + n}, got {commit}"
            )
        self.state = LogState(built.frontier, state.last_seq + n, built.ingest_high)

    async def _resume(self) -> None:
        """Read where the log stands now and go on from there (`_resume.resume`)."""
        fresh = self.state is None
        state, found = await resume(self.nc, self.key, self.state)  # type: ignore[arg-type]  # checked in start()
        if fresh:
            for key in await recent_keys(self.nc, state, RECENT_AUDITED, self.key.verifier):  # type: ignore[union-attr]
                self._remember(key)
        else:
            for key in found.adopted_keys:
                self._remember(key)
        self.state = state
        self._foreign = found.foreign  # all those after the log's end: a half read before may be whole now
        if found.foreign and all(f.unfinished for f in found.foreign):
            log.warning(
                "an audit append cut short before its checkpoint: noted in a signed incident entry and gone past",
                stream_seqs=[f.seq for f in found.foreign[:20]],
            )
        elif found.foreign:
            log.error(
                "foreign messages in the audit stream: noted in a signed incident entry and gone past",
                stream_seqs=[f.seq for f in found.foreign[:20]],
            )
        self._stale = False

    async def audited_after(self, ingest_seq: int) -> dict[int, list[AuditRecord]]:
        """The decisions in the log about records whose ingest sequence is above ``ingest_seq``, by it.

        Only the writer holding the lease may ask (raises as `append` does otherwise): another writer may be
        appending past what this one knows, so a standby's answer could leave out what was just audited."""
        self.lease.check()
        if self._stale or self.state is None:
            await self._resume()
        assert self.state is not None
        return await audited_after(self.nc, self.state, ingest_seq, self.key.verifier)  # type: ignore[union-attr]

    def _remember(self, key: str) -> None:
        self._recent[key] = None
        if len(self._recent) > RECENT_AUDITED:
            self._recent.popitem(last=False)
