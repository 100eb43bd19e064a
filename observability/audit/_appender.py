"""The appender: the one writer of the audit trail, which the router calls and which owns its state.

The router plans a batch into audit drafts (one `AuditRecord` per decision, unsealed) and hands
them to `Appender.append`; the appender seals them into the chain, appends them to the AUDIT
stream, each conditional on the stream's exact last sequence, waits for every acknowledgement
and only then returns, so that nothing is delivered before its audit record is durable (fail
closed: it raises `AuditUnavailable` instead). After a failed append its chain may be ahead of
the stored one (sealed, not stored); the next call reads back what was stored since the last
point where both agreed and seals again from there. Pairs (envelope id, recipient) audited
before are skipped, so a record routed again after a crash is never audited twice.

It tells the checkpointer of each acknowledged append, so the checkpointer need not read the
trail back (see `Checkpointer`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from opentelemetry.trace import SpanContext, SpanKind

from samband.schemas.layout import AUDIT_STREAM, AUDIT_SUBJECT

from .._message_spans import Spans
from ..bus import AckPipeline, PubAck, PublishRefused
from ._checkpointer import Checkpointer
from ._errors import AuditUnavailable
from ._record import AUDIT_DECODER, AuditChain, AuditRecord

__all__ = ["RECENT_AUDITED", "Appender", "AuditAppender", "AuditDraft"]

# Pairs audited before a crash are remembered from the trail's tail, so a redelivered
# record is delivered again (deduped by its inbox msg id) but never audited twice.
RECENT_AUDITED = 65_536


class AuditDraft(msgspec.Struct, frozen=True):
    """One decision to audit: its dedupe key ``<envelope id>:<recipient>``, the record (unsealed)
    and the span its append span hangs under."""

    key: str
    record: AuditRecord
    parent: SpanContext | None = None


class AuditAppender(Protocol):
    """What the router needs of the trail's writer (the bench passes its own, see samband.bench)."""

    async def start(self) -> None: ...

    async def append(self, drafts: Sequence[AuditDraft]) -> int: ...

    async def close(self) -> None: ...


class Appender:
    """Seals drafts into the hash chain and appends them to AUDIT, in order, acknowledged."""

    def __init__(
        self,
        nc: nats.NATS,
        *,
        checkpointer: Checkpointer | None = None,
        ack_timeout: float = 10.0,
        pipeline: AckPipeline | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.checkpointer = checkpointer
        self.ack_timeout = ack_timeout
        self.pipeline = pipeline or AckPipeline(nc)
        self.chain = AuditChain()
        self.appended = 0  # records this appender stored
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._last_seq = 0  # the stream's last sequence, as far as this appender knows
        self._synced: tuple[int, int, str] | None = None  # (stream seq, chain seq, chain head) known to agree
        self._stale = True  # the chain must be read back before the next seal
        self._spans: Spans | None = None

    @property
    def spans(self) -> Spans:
        if self._spans is None:  # made on first use, after the entry point has configured tracing
            self._spans = Spans()
        return self._spans

    async def start(self) -> None:
        await self.pipeline.start()
        await self._resume()

    async def close(self) -> None:
        await self.pipeline.close()

    def audited(self, key: str) -> bool:
        """Whether the pair ``key`` is among the trail's recent appends."""
        return key in self._recent

    async def append(self, drafts: Sequence[AuditDraft]) -> int:
        """Seal and append ``drafts`` (those not audited before); how many were stored. Raises
        `AuditUnavailable` unless all are."""
        if self._stale:
            await self._resume()
        todo = [d for d in drafts if d.key not in self._recent]
        if not todo:
            return 0
        sealed = [self.chain.seal(d.record) for d in todo]
        try:
            await self._store(todo, sealed)
        except AuditUnavailable:
            self._stale = True
            raise
        for d in todo:
            self._remember(d.key)
        self.appended += len(todo)
        return len(todo)

    async def _store(self, todo: list[AuditDraft], sealed: list[bytes]) -> None:
        spans = self.spans
        sends = [spans.messaging("send", AUDIT_SUBJECT, SpanKind.PRODUCER, d.parent, message_id=d.key) for d in todo]
        base = self._last_seq
        # Each append states the stream sequence it must follow, so the stored chain can neither
        # fork (two writers) nor get a hole (a rejected append followed by accepted ones).
        results = await self.pipeline.publish(
            [
                (AUDIT_SUBJECT, data, {"Nats-Msg-Id": d.key, "Nats-Expected-Last-Sequence": str(base + i)})
                for i, (d, data) in enumerate(zip(todo, sealed, strict=True))
            ],
            self.ack_timeout,
        )
        for span, r in zip(sends, results, strict=True):
            if isinstance(r, BaseException):
                spans.end(span, error=r)
            else:
                spans.end(span, {"messaging.nats.stream.sequence": r.seq})
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if isinstance(failed, PublishRefused):
            raise AuditUnavailable(f"Expected the audit append to be stored, got a refusal: {failed}") from failed
        if failed is not None:
            raise AuditUnavailable(f"Expected the audit append to be acknowledged, got {failed}") from failed
        acks: list[PubAck] = results  # type: ignore[assignment]  # no exception among them
        if any(a.duplicate for a in acks):
            # A pair we did not remember was already in the trail: resynchronise rather than fork the chain.
            raise AuditUnavailable("Expected new audit records, got a duplicate: the trail moved under the appender")
        self._last_seq = acks[-1].seq
        self._synced = (self._last_seq, self.chain.seq, self.chain.head)
        if self.checkpointer is not None:
            self.checkpointer.appended(sealed, self.chain.head)

    async def _resume(self) -> None:
        """Continue the chain after the last stored record and remember the trail's recent pairs.

        After a failed append only what was stored since the last point where the chain and the
        stream agreed is read (usually nothing, at most a batch), not the trail's whole tail.
        """
        try:
            info = await self.js.stream_info(AUDIT_STREAM)
        except (TimeoutError, JsError, NatsError) as exc:
            raise AuditUnavailable(f"Expected the {AUDIT_STREAM} stream, got {exc!r}") from exc
        last_seq = info.state.last_seq
        synced = self._synced
        if synced is not None and info.state.first_seq <= synced[0] + 1 and last_seq >= synced[0]:
            first = synced[0] + 1
            chain = AuditChain(synced[1], synced[2])
        else:
            self._recent.clear()
            chain = AuditChain()
            first = max(info.state.first_seq, last_seq - RECENT_AUDITED + 1)
        last = b""
        if info.state.messages and first <= last_seq:
            sub = await self.js.subscribe(
                AUDIT_SUBJECT,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                config=ConsumerConfig(opt_start_seq=first),
            )
            try:
                for _ in range(last_seq - first + 1):
                    msg = await sub.next_msg(timeout=5)
                    rec = AUDIT_DECODER.decode(msg.data)
                    self._remember(f"{rec.envelope_id}:{rec.recipient}")
                    last = msg.data
            except (TimeoutError, JsError, NatsError) as exc:
                raise AuditUnavailable(f"Expected to read the audit trail back, got {exc!r}") from exc
            finally:
                await sub.unsubscribe()
        self.chain = AuditChain.resume(last) if last else chain
        self._last_seq = last_seq
        self._synced = (last_seq, self.chain.seq, self.chain.head)
        self._stale = False

    def _remember(self, key: str) -> None:
        self._recent[key] = None
        if len(self._recent) > RECENT_AUDITED:
            self._recent.popitem(last=False)
