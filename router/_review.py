"""The review queue: records their originator reviews before disclosure (LUS 2 § second paragraph).

An originator marks records for its balancing test: a record itself (``handling.review_required``),
or in its agency file every record of some types or operations (``[review]``, turned into a
`ReviewRule` by whoever starts the router). The policy decides as for any record; where it would
disclose, the router holds that (record, recipient) instead: the minimised copy the recipient
would get is kept in the REVIEW bucket (a KV bucket in the router's account, one entry per held
pair, ``<origin>.<envelope id>.<recipient>``) and the hold is audited (``hold.review``). Every
other recipient's delivery goes on. The originator's officer releases (delivered, audited
``review.released``) or withholds it (audited ``review.withheld``, a reason required); a hold
nobody decided on lapses to withheld (``review.lapsed``). Each outcome replaces the entry with
one that no longer carries the payload (the bucket keeps one message per key), and the outcome
is kept 90 days after its last change (the stream's ``max_age``), so that a second release is
answered, not repeated.

`HoldQueue` is the bucket's I/O and the router's index of it (metadata only, rebuilt from the
bucket at start); the officers' requests and the lapse are `_review_desk`'s.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy
from nats.js.errors import Error as JsError

from samband.observability.audit import AuditRecord
from samband.observability.bus import AckPipeline, PubAck, PublishRefused
from samband.schemas import Envelope
from samband.schemas.layout import REVIEW_BUCKET, REVIEW_STREAM, REVIEW_SUBJECTS, delivery_subject, review_key

from ._compile import Decision
from ._legal_time import swedish_text

__all__ = [
    "DEFAULT_LAPSE",
    "Hold",
    "HoldQueue",
    "QueueUnavailable",
    "ReviewRule",
    "held_because",
    "hold_for",
    "review_rules",
]

DEFAULT_LAPSE = _dt.timedelta(hours=72)  # as broker_config's agency files (`[review] lapse_hours`)
MAX_PENDING = 10_000  # holds one originator may have waiting; beyond them a record is denied, not held
_WRONG_LAST = 10071  # the key changed since (a create that found it there, or a lost race)


class ReviewRule(msgspec.Struct, frozen=True, kw_only=True):
    """What one originator reviews before any disclosure, and how long a hold waits for it."""

    record_types: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    lapse: _dt.timedelta = DEFAULT_LAPSE


def review_rules(agencies: Mapping[str, Any]) -> dict[str, ReviewRule]:
    """Each agency file's ``[review]`` (broker_config's `ReviewMarks`) as the router's rules."""
    out = {}
    for slug, a in agencies.items():
        m = a.review
        if m.record_types or m.operations:
            out[slug] = ReviewRule(
                record_types=frozenset(m.record_types),
                operations=frozenset(m.operations),
                lapse=_dt.timedelta(hours=m.lapse_hours),
            )
    return out


def held_because(env: Envelope, rules: Mapping[str, ReviewRule]) -> str | None:
    """Why ``env`` waits for its originator's review before any disclosure, or None."""
    if env.handling.review_required:
        return "the record asks for its originator's review (handling.review_required)"
    rule = rules.get(env.origin or "")
    if rule is None:
        return None
    rt = env.record_type
    if rt in rule.record_types:
        return f"{env.origin} reviews every {rt} before disclosure"
    if env.operation in rule.operations:
        return f"{env.origin} reviews every record of operation {env.operation} before disclosure"
    return None


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """One held (record, recipient) as the REVIEW bucket keeps it."""

    state: str = "held"  # held | released | withheld | lapsed
    envelope_id: str
    origin: str
    recipient: str
    record_type: str
    region: str
    operation: str
    held_at: _dt.datetime
    lapses_at: _dt.datetime
    why: str
    rule: str  # the policy's allow it would be disclosed under
    policy_version: str
    legal_basis: str | None = None
    purpose: str | None = None
    fields: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()  # keyed pseudonyms, as in the audit entry
    no_onward_sharing: bool = False
    subject: str = ""  # where it is delivered once released
    delivered_sha256: str | None = None
    payload: bytes | None = None  # the minimised copy, kept only while it is held
    decided_at: _dt.datetime | None = None
    officer: str | None = None
    reason: str | None = None

    @property
    def key(self) -> str:
        return review_key(self.origin, self.envelope_id, self.recipient)

    def describe(self) -> str:
        """The hold's state in a sentence (a refusal names it)."""
        if self.state == "held":
            return f"held until {swedish_text(self.lapses_at.replace(microsecond=0))}"
        by = f" by {self.officer}" if self.officer else ""
        return f"{self.state}{by} at {swedish_text((self.decided_at or self.held_at).replace(microsecond=0))}"


def hold_for(
    allowed: AuditRecord, payload: bytes, why: str, d: Decision, lapse: _dt.timedelta
) -> tuple[Hold, AuditRecord]:
    """The hold of what ``allowed`` would disclose, and its audit entry (``hold.review``, not disclosed)."""
    at = allowed.at
    hold = Hold(
        envelope_id=allowed.envelope_id,
        origin=allowed.origin,
        recipient=allowed.recipient,
        record_type=allowed.record_type,
        region=allowed.region,
        operation=allowed.operation,
        held_at=at,
        lapses_at=at + lapse,
        why=why,
        rule=d.rule,
        policy_version=d.policy_version,
        legal_basis=d.legal_basis,
        purpose=d.purpose,
        fields=d.fields,
        subjects=allowed.subjects,
        no_onward_sharing=d.no_onward_sharing,
        subject=delivery_subject(allowed.recipient, allowed.record_type),
        delivered_sha256=allowed.delivered_sha256,
        payload=payload,
    )
    record = msgspec.structs.replace(
        allowed,
        decision="deny",
        rule="hold.review",
        delivered_sha256=None,
        reason=f"held for {allowed.origin}'s balancing test (LUS 2 §), {hold.describe()}: {why}; "
        f"the policy would allow it as {d.rule}",
    )
    return hold, record


_HOLD = msgspec.json.Decoder(Hold)
_encode = msgspec.json.Encoder().encode


def _subject(key: str) -> str:
    return f"$KV.{REVIEW_BUCKET}.{key}"


class QueueUnavailable(ConnectionError):
    """The REVIEW bucket could not be read or written."""


class HoldQueue:
    """The REVIEW bucket, and the router's index of it (every entry, without its payload)."""

    def __init__(self, nc: nats.NATS, pipeline: AckPipeline, *, timeout: float = 10.0, cap: int = MAX_PENDING) -> None:
        self.nc, self.js, self.pipeline, self.timeout, self.cap = nc, nc.jetstream(), pipeline, timeout, cap
        self.index: dict[str, tuple[Hold, int]] = {}  # key -> (entry without payload, its stream sequence)
        self.pending: dict[str, int] = {}  # origin -> holds waiting

    async def start(self) -> None:
        """Read the bucket's every key's newest entry (the index after a restart)."""
        self.index.clear()
        self.pending.clear()
        try:
            info = await self.js.stream_info(REVIEW_STREAM)
        except (JsError, NatsError, TimeoutError) as exc:
            raise QueueUnavailable(
                f"Expected the {REVIEW_STREAM} stream, got {exc!r}: provision the deployment"
            ) from exc
        if not info.state.messages:
            return
        done = asyncio.Event()

        async def take(msg) -> None:
            try:
                self._note(_HOLD.decode(msg.data), msg.metadata.sequence.stream)
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # nobody but the router writes here; an entry it cannot read is left alone
            if msg.metadata.num_pending == 0:
                done.set()

        sub = await self.js.subscribe(
            REVIEW_SUBJECTS, cb=take, ordered_consumer=True, deliver_policy=DeliverPolicy.LAST_PER_SUBJECT
        )
        try:
            await asyncio.wait_for(done.wait(), self.timeout)
        except TimeoutError as exc:
            raise QueueUnavailable(f"Expected the {REVIEW_STREAM} entries within {self.timeout:g}s, got fewer") from exc
        finally:
            await sub.unsubscribe()

    def _note(self, hold: Hold, seq: int) -> None:
        key = hold.key
        before = self.index.get(key)
        if before is not None and before[0].state == "held":
            self.pending[hold.origin] -= 1
        if hold.state == "held":
            self.pending[hold.origin] = self.pending.get(hold.origin, 0) + 1
        self.index[key] = (msgspec.structs.replace(hold, payload=None), seq)

    def full(self, origin: str) -> bool:
        return self.pending.get(origin, 0) >= self.cap

    async def hold(self, holds: Sequence[Hold]) -> list[str | None]:
        """Store each new hold (only where its key has no entry yet); None for each stored or already
        there, else why it could not be held."""
        out: list[str | None] = [None] * len(holds)
        todo = []
        for i, h in enumerate(holds):
            if h.key in self.index:
                continue  # the same record again (given back after a crash): held already, or decided
            if self.full(h.origin):
                out[i] = f"{h.origin} has {self.cap} holds waiting for its officer; no more are taken"
                continue
            self.pending[h.origin] = self.pending.get(h.origin, 0) + 1  # counted now: the batch's own flood too
            todo.append(i)
        items = [
            (_subject(holds[i].key), _encode(holds[i]), {"Nats-Expected-Last-Subject-Sequence": "0"}) for i in todo
        ]
        results = await self.pipeline.publish(items, self.timeout) if items else []
        for i, r in zip(todo, results, strict=True):
            h = holds[i]
            self.pending[h.origin] -= 1
            if isinstance(r, PubAck):
                self._note(h, r.seq)
            elif not (isinstance(r, PublishRefused) and r.error.err_code == _WRONG_LAST):
                out[i] = f"the review queue could not store it ({r!r})"
        return out

    def entries(self, origin: str, envelope_id: str | None = None) -> list[Hold]:
        prefix = f"{origin}.{envelope_id}." if envelope_id else f"{origin}."
        return [h for k, (h, _) in self.index.items() if k.startswith(prefix)]

    def due(self, now: _dt.datetime) -> list[Hold]:
        return [h for h, _ in self.index.values() if h.state == "held" and h.lapses_at <= now]

    async def payload(self, hold: Hold) -> Hold:
        """The entry as stored, with its payload (only a held one has one)."""
        try:
            msg = await self.js.get_msg(REVIEW_STREAM, subject=_subject(hold.key), direct=True)
        except (JsError, NatsError, TimeoutError) as exc:
            raise QueueUnavailable(f"Expected the held record {hold.key}, got {exc!r}") from exc
        return _HOLD.decode(msg.data or b"")

    async def decide(self, hold: Hold, decided: Hold) -> None:
        """Replace ``hold``'s entry (payload dropped) with its outcome, only if nothing changed it since."""
        _, seq = self.index[hold.key]
        item = (_subject(hold.key), _encode(decided), {"Nats-Expected-Last-Subject-Sequence": str(seq)})
        (r,) = await self.pipeline.publish([item], self.timeout)
        if not isinstance(r, PubAck):
            raise QueueUnavailable(f"the review queue could not record the outcome of {hold.key} ({r!r})")
        self._note(decided, r.seq)
