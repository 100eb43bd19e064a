"""What the console's pages read from the broker, each with the identity's own credentials.

Integrity (`verify_online`, the newest checkpoint's age, the witnesses' cosignatures), the
recipients' receipts (the oversight all of them; an agency's auditor its agency's own, through a
consumer the broker filters), the agency's dead letters and a reporting agency's outcomes (its own
account's streams, through the read APIs it lends its auditor under ``chief.<agency>.``), and the
councils' decisions in force (`LivePolicy` replayed read-only, as `samband decision list` does).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
from dataclasses import dataclass, field

import msgspec
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.adapters import AdapterError, DeadLetter, OutcomeReport, ReportError, aggregate, list_dead_letters
from samband.observability.audit import (
    AuditError,
    SubsetResult,
    VerifyResult,
    cosigned_by,
    open_checkpoint,
    read_cosignatures,
    verify_online,
    witness_keys,
)
from samband.observability.bus import ReadError, direct_get, read_range
from samband.schemas import ENVELOPE_READER, DecodeError, Envelope
from samband.schemas.layout import (
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_STREAM,
    INBOX_STREAM,
    RECEIPTS_STREAM,
    audit_consumer_names,
    chief_api_prefix,
)

from ._backend import Backend
from ._errors import ConsoleError, Refused

__all__ = [
    "Integrity",
    "PolicyView",
    "dead_letters",
    "integrity",
    "newest_checkpoint",
    "outcomes",
    "policy",
    "receipts",
]

MAX_DEAD_LETTERS = 1000  # the newest; the agency's IT team has `samband adapter dlq` for all of them
MAX_OUTCOMES = 100_000


@dataclass
class Integrity:
    checked_at: _dt.datetime
    ok: bool = False
    verdict: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not wrong, worth knowing: an append cut short
    size: int = 0
    entries: int = 0
    checkpoints: int = 0
    origin: str = ""
    key_id: str = ""
    root: str = ""
    newest_size: int = 0
    newest_at: _dt.datetime | None = None
    stale: bool = False
    interval: _dt.timedelta = _dt.timedelta(hours=1)
    cosigned: dict[str, _dt.datetime] = field(default_factory=dict)
    empty: bool = False

    @property
    def red(self) -> bool:
        return not self.ok or self.stale

    @property
    def age(self) -> _dt.timedelta | None:
        return self.checked_at - self.newest_at if self.newest_at else None


async def newest_checkpoint(backend: Backend) -> tuple[bytes, int, _dt.datetime | None] | None:
    """The newest checkpoint note as stored, its tree size and when the stream stored it."""
    nc = backend.require()
    try:
        m = await direct_get(nc, AUDIT_STREAM, last_by_subj=AUDIT_CHECKPOINT_SUBJECT)
    except ReadError as exc:
        raise ConsoleError(str(exc)) from exc
    if m is None:
        return None
    try:
        cp, _ = open_checkpoint(m.data, backend.verifier)
    except AuditError:
        return m.data, -1, m.time
    return m.data, cp.size, m.time


async def integrity(backend: Backend, interval: _dt.timedelta) -> Integrity:
    """Verify what the identity may read of the log now, with the pinned keys."""
    nc = backend.require()
    out = Integrity(checked_at=_dt.datetime.now(_dt.UTC), interval=interval)
    witnesses = witness_keys(backend.state_dir)
    try:
        result: VerifyResult | SubsetResult | None = await verify_online(
            nc, backend.identity, backend.state_dir, backend.verifier, witnesses=witnesses
        )
        newest = await newest_checkpoint(backend)
        cosignatures = await read_cosignatures(nc)
    except AuditError as exc:
        out.verdict, out.problems = f"FAILED: {exc}", [str(exc)]
        return out
    if result is None:
        out.ok, out.empty, out.verdict = True, True, "OK: the log is empty: nothing appended yet"
        return out
    out.ok, out.verdict = result.ok, str(result)
    out.problems = [str(p) for p in result.problems]
    out.notes = list(result.notes)
    out.size, out.entries, out.checkpoints = result.size, result.entries, result.checkpoints
    out.origin, out.key_id, out.root = result.origin, result.key_id, base64.b64encode(result.root).decode()
    if newest is not None:
        _, out.newest_size, out.newest_at = newest
        out.stale = out.newest_at is not None and out.checked_at - out.newest_at > interval
    problems: list = []
    signed = cosigned_by(cosignatures, result.signed, result.origin, witnesses, problems)
    for size in sorted(signed):
        if size <= result.size:
            for agency, t in signed[size].items():
                out.cosigned[agency] = _dt.datetime.fromtimestamp(t, _dt.UTC)
    return out


async def receipts(backend: Backend) -> list[tuple[str, bytes]]:
    """(subject, payload) of the receipts the identity may read: all, or its agency's own."""
    nc = backend.require()
    try:
        if backend.agency is None:
            info = await nc.jetstream().stream_info(RECEIPTS_STREAM)
            if not info.state.messages:
                return []
            return await read_range(
                nc, RECEIPTS_STREAM, info.state.first_seq, info.state.last_seq, with_subjects=True, strict=False
            )
        return await read_range(
            nc,
            RECEIPTS_STREAM,
            1,
            1 << 62,
            with_subjects=True,
            subjects=[f"receipt.{backend.agency}.>"],
            names=audit_consumer_names(backend.identity),
        )
    except (TimeoutError, JsError, NatsError, ReadError) as exc:
        raise Refused(f"Expected to read {RECEIPTS_STREAM} as `{backend.identity}`, got {exc!r}") from exc


async def dead_letters(backend: Backend) -> list[tuple[int, DeadLetter]]:
    """The agency's own dead letters, newest last (at most `MAX_DEAD_LETTERS`)."""
    nc = backend.require()
    if backend.agency is None:
        raise Refused("dead letters are each agency's own: the oversight reads none (sign in as auditor-AGENCY)")
    try:
        return await asyncio.wait_for(
            list_dead_letters(nc, limit=MAX_DEAD_LETTERS, prefix=chief_api_prefix(backend.agency)), 30
        )
    except (AdapterError, TimeoutError) as exc:
        raise Refused(f"Expected {backend.agency}'s dead letters, got: {exc}") from exc


async def outcomes(backend: Backend) -> OutcomeReport | None:
    """The outcomes report of a reporting agency (a Ruc, the national follow-up) from its own inbox;
    None for an identity that receives no outcomes."""
    nc = backend.require()
    if backend.agency is None or not backend.reporting:
        return None
    js = nc.jetstream(prefix=chief_api_prefix(backend.agency))
    envelopes: list[Envelope] = []
    seq = 1
    try:
        while len(envelopes) < MAX_OUTCOMES:
            try:
                msg = await js.get_msg(INBOX_STREAM, seq, subject="in.outcome", next=True)
            except NotFoundError:
                break
            try:
                envelopes.append(ENVELOPE_READER.decode(msg.data or b""))
            except DecodeError:
                pass
            seq = (msg.seq or seq) + 1
    except (TimeoutError, JsError, NatsError) as exc:
        if seq == 1:
            return None  # not a reporting agency: its auditor is lent no inbox
        raise ConsoleError(f"Expected the outcome records of {backend.agency}'s inbox, got {exc!r}") from exc
    if not envelopes:
        return None
    try:
        return aggregate(envelopes, backend.agency)
    except ReportError as exc:
        raise ConsoleError(str(exc)) from exc


@dataclass
class PolicyView:
    version: str
    in_force: list[dict]
    history: list[dict]


async def policy(backend: Backend, policy_dir) -> PolicyView:
    """The policy as the router holds it now: the files, then REGISTRY and DECISIONS replayed read-only."""
    from samband.router import CouncilKeyError, CouncilKeys, LivePolicy, PolicyError

    nc = backend.require()
    try:
        live = LivePolicy(policy_dir, councils=CouncilKeys.of_state(backend.state_dir))
        await live.start(nc, asyncio.Event(), timeout=10.0, watch=False)
    except (PolicyError, CouncilKeyError) as exc:
        raise ConsoleError(str(exc)) from exc
    except (ConnectionError, TimeoutError, JsError, NatsError) as exc:
        raise Refused(f"Expected the councils' decisions as `{backend.identity}`, got {exc}") from exc
    finally:
        await live.close()
    now = _dt.datetime.now(_dt.UTC)
    data = live.current.data
    rows = []
    for op_id, o in sorted(data.operations.items()):
        who = live.authority("operation", op_id)
        rows.append(
            {
                "kind": "operation",
                "id": op_id,
                "state": o.status,
                "scope": o.scope,
                "from": str(o.valid_from),
                "to": str(o.valid_to or "-"),
                "by": o.decided_by,
                "participants": len(o.participants),
                "authority": who.ref if who else "operations.toml",
            }
        )
    for grant_id, g in sorted(data.grants.items()):
        who = live.authority("cooption", grant_id)
        state = "revoked" if g.revoked else "expired" if now >= g.valid_to else "in force"
        rows.append(
            {
                "kind": "grant",
                "id": grant_id,
                "state": state,
                "scope": f"{g.agency} in {g.operation}",
                "from": g.valid_from.date().isoformat(),
                "to": g.valid_to.date().isoformat(),
                "by": g.decided_by,
                "participants": 1,
                "authority": who.ref if who else "cooptions.toml",
            }
        )
    history = [msgspec.to_builtins(e) for e in live.history]
    return PolicyView(version=live.version, in_force=rows, history=history)
