"""The ledger: every routed envelope id, durably, so a repeated id is recognised at any distance.

A JetStream KV bucket (``LEDGER``, one entry per envelope id: the origin, the hash of the record's
bytes and its INGEST sequence). Before a record is audited the router *claims* its id: a publish
to ``$KV.LEDGER.<id>`` that the server stores only if the key has no entry yet
(``Nats-Expected-Last-Subject-Sequence: 0``), so the check and the write are one step and no
window, cache or second router can let a repeat through. A refused claim is looked up:

* the same origin and the same INGEST sequence: the same message, given back after a crash
  (``mine``): it is routed on (its audit entries, if any, say what was already done);
* the same origin and the same bytes, another message: a repeat (``repeat``): nothing to do;
* anything else (other bytes, or another origin's id): ``reused``, refused as ``deny.reused-id``.

Envelope ids are global (UUIDs, ULIDs): an agency that sends an id another agency used, which it
may have received, is refused like one that reuses its own.

One claim per record costs a store on the server, and the router would pay for reading one answer
per claim; so a batch's claims are sent in one write with no answer asked but for the last, which
also states the ledger's last sequence it must follow (``Nats-Expected-Last-Sequence``: the router
is the ledger's one writer). Its acknowledgement at exactly the sequence expected says every claim
before it was stored; anything else (a claim refused because its id was there, a write by someone
else, a lost message) sends the batch the slow way: each id looked up, the ones found compared. The
claims go before the batch is decided and are awaited after, so the round trip overlaps the
router's own work. An id whose record was quarantined is marked so (``q``), and may be sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from samband.observability.bus import AckPipeline, PubAck, PublishBatch, PublishError
from samband.schemas.layout import LEDGER_STREAM, ledger_subject

__all__ = ["Claim", "ClaimOutcome", "Ledger", "LedgerUnavailable"]


class LedgerUnavailable(ConnectionError):
    """The ledger could not be written or read: nothing can be routed (retried, like the audit trail)."""


class Claim(msgspec.Struct, frozen=True, omit_defaults=True):
    o: str  # origin
    h: str  # sha256 of the record's bytes (first 128 bits, hex)
    s: int  # its INGEST_<origin> sequence
    q: bool = False  # the record was quarantined: the id may be sent again


_CLAIM = msgspec.json.Decoder(Claim)
_encode = msgspec.json.Encoder().encode


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(slots=True)
class ClaimOutcome:
    kind: str  # "new" | "mine" | "repeat" | "reused"
    earlier: Claim | None = None


class PendingClaims:
    """Claims sent and not yet answered: the answer to the last says whether all were stored."""

    __slots__ = ("batch", "claims", "expected", "ids")

    def __init__(self, batch: PublishBatch | None, ids: list[str], claims: list[Claim], expected: int) -> None:
        self.batch, self.ids, self.claims, self.expected = batch, ids, claims, expected


class Ledger:
    def __init__(self, nc: nats.NATS, pipeline: AckPipeline, *, timeout: float = 10.0) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.pipeline = pipeline
        self.timeout = timeout
        self._last: int | None = None  # the ledger stream's last sequence, as far as its writer knows

    async def _sync(self) -> int:
        try:
            self._last = (await self.js.stream_info(LEDGER_STREAM)).state.last_seq
        except (JsError, NatsError, TimeoutError) as exc:
            raise LedgerUnavailable(f"Expected the {LEDGER_STREAM} stream, got {exc!r}") from exc
        return self._last

    async def send(self, items: Sequence[tuple[str, Claim]]) -> PendingClaims:
        """Send one claim per (envelope id, claim), in one write; answered by `settle`."""
        ids = [i for i, _ in items]
        claims = [c for _, c in items]
        if not items:
            return PendingClaims(None, ids, claims, 0)
        last = self._last if self._last is not None else await self._sync()
        expected = last + len(items)
        new = {"Nats-Expected-Last-Subject-Sequence": "0"}
        batch = await self.pipeline.open()
        try:
            await self.pipeline.send_unanswered([(ledger_subject(i), _encode(c), new) for i, c in items[:-1]])
        except PublishError as exc:
            self._last = None
            raise LedgerUnavailable(f"Expected to send the ledger's claims, got {exc}") from exc
        final = {**new, "Nats-Expected-Last-Sequence": str(expected - 1)}
        await self.pipeline.send(batch, [(ledger_subject(ids[-1]), _encode(claims[-1]), final)])
        return PendingClaims(batch, ids, claims, expected)

    async def settle(self, pending: PendingClaims) -> list[ClaimOutcome]:
        """What each claim found; raises `LedgerUnavailable` if the ledger cannot say."""
        if pending.batch is None:
            return []
        (r,) = await self.pipeline.wait(pending.batch, self.timeout)
        if isinstance(r, PubAck) and r.seq == pending.expected:
            self._last = r.seq
            return [ClaimOutcome("new") for _ in pending.ids]
        # Not every claim was stored as sent (an id used before, or a write not ours): the slow way.
        self._last = None
        found = await asyncio.gather(*(self._last_entry(i) for i in pending.ids))
        out = []
        for env_id, claim, (earlier, seq) in zip(pending.ids, pending.claims, found, strict=True):
            if earlier == claim:  # stored by this batch (or by this record's own earlier try)
                out.append(ClaimOutcome("new"))
            else:
                out.append(await self._compare(env_id, claim, earlier, seq))
        return out

    async def _compare(self, env_id: str, claim: Claim, earlier: Claim | None, seq: int) -> ClaimOutcome:
        if earlier is None:  # gone meanwhile (the bucket's limits): claim it afresh
            return await self._reclaim(env_id, claim, 0)
        if earlier.q:
            return await self._reclaim(env_id, claim, seq)
        if earlier.o == claim.o and earlier.s == claim.s:
            return ClaimOutcome("mine", earlier)
        if earlier.o == claim.o and earlier.h == claim.h:
            return ClaimOutcome("repeat", earlier)
        return ClaimOutcome("reused", earlier)

    async def _reclaim(self, env_id: str, claim: Claim, last_seq: int) -> ClaimOutcome:
        r = await self._put(env_id, claim, last_seq)
        if isinstance(r, PubAck):
            return ClaimOutcome("new")
        earlier, seq = await self._last_entry(env_id)
        if earlier is not None and not earlier.q:
            return await self._compare(env_id, claim, earlier, seq)
        raise LedgerUnavailable(f"Expected the ledger to store a claim, got {r!r}")

    async def _put(self, env_id: str, claim: Claim, last_seq: int | None) -> PubAck | BaseException:
        head = {} if last_seq is None else {"Nats-Expected-Last-Subject-Sequence": str(last_seq)}
        self._last = None  # a write outside a batch: the next batch asks where the ledger stands
        (r,) = await self.pipeline.publish([(ledger_subject(env_id), _encode(claim), head)], self.timeout)
        return r

    async def release(self, env_id: str, claim: Claim) -> None:
        """Mark the id's record quarantined: the same id may be sent again and is then routed."""
        r = await self._put(env_id, msgspec.structs.replace(claim, q=True), None)
        if isinstance(r, BaseException):
            raise LedgerUnavailable(f"Expected the ledger to store a release, got {r!r}") from r

    async def _last_entry(self, env_id: str) -> tuple[Claim | None, int]:
        """The id's entry and its stream sequence (None, 0 when there is none)."""
        subject = f"$JS.API.DIRECT.GET.{LEDGER_STREAM}.{ledger_subject(env_id)}"
        try:
            msg = await self.nc.request(subject, b"", timeout=self.timeout)
        except (NatsError, TimeoutError) as exc:
            raise LedgerUnavailable(f"Expected the ledger's entry for an envelope id, got {exc!r}") from exc
        hdr = msg.headers or {}
        if hdr.get("Status") == "404":
            return None, 0
        if hdr.get("Status"):
            raise LedgerUnavailable(f"Expected the ledger's entry for an envelope id, got status {hdr.get('Status')}")
        try:
            return _CLAIM.decode(msg.data), int(hdr.get("Nats-Sequence", "0"))
        except (msgspec.DecodeError, ValueError) as exc:
            raise LedgerUnavailable(f"Expected a ledger entry, got {exc}") from exc
