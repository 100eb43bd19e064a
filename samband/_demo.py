"""`samband demo`: Operation Bacchus on an embedded nats-server with synthetic data.

Polisen's adapter publishes vehicle controls from Helsingborg (with one malformed line in the
export) and Polisen publishes overload reports, which its agency file marks for its own review
before disclosure: its officer releases them to two recipients (`_demo_review`); SSO co-opts
Transportstyrelsen live for the overload reports (a decision signed with RSR Syd's key, made at
set-up); the router decides per recipient from the shipped policy, audits, and delivers each agency only
the fields its purpose needs; every recipient's sink writes what it got. Then Nuc and Ruc Syd
publish their situation pictures and the agencies send Bacchus's outcomes, which Ruc Syd reports
from its inbox (`_demo_follow_up`). Three agencies' witnesses cosign the audit log's checkpoints as
it grows; the log is then verified as `samband audit verify --witnesses 3` does, and the summary
read back from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import msgspec
import nats

from samband.adapters import NativeRecord, publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.broker_config import SSO, Agency, Deployment, builtin_agencies
from samband.observability import inject_headers, producer_span
from samband.observability.audit import (
    ENTRY_DECODER,
    AuditRecord,
    Witness,
    load_or_create_signing_key,
    load_witness_key,
    read_log,
    verify_log,
    witness_keys,
    witness_state_path,
)
from samband.router import LivePolicy, create_council_keys, load_private_key, sign_decision
from samband.schemas import (
    CooptionDecision,
    Envelope,
    OperationDecision,
    OrganisationRef,
    OverloadReport,
    Record,
    VehicleRef,
    encode,
    new_envelope_id,
    synthetic_orgnr,
    synthetic_plate,
)
from samband.schemas.layout import OVERSIGHT, decision_subject, witness_identity

from ._demo_follow_up import FollowUpResult, run_follow_up, wait_until_delivered
from ._demo_review import ReviewDemo, marked_for_review, release_held
from ._platform import Platform, shipped_policy_dir

__all__ = ["BACCHUS_RECIPIENTS", "DemoResult", "publish_decision", "run_demo"]

OPERATION = "bacchus-2017"
BACCHUS_RECIPIENTS = (
    "tullverket",
    "skatteverket",
    "forsakringskassan",
    "kronofogden",
    "arbetsformedlingen",
    "migrationsverket",
    "ekobrottsmyndigheten",
    "transportstyrelsen",
)


@dataclass
class DemoResult:
    read: int = 0
    published: int = 0
    overload_reports: int = 0
    rejected: list[str] = field(default_factory=list)
    decisions: int = 0
    allowed: int = 0
    denied: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    per_agency: dict[str, Counter[str]] = field(default_factory=dict)  # recipient -> allow/deny counts
    rules: Counter = field(default_factory=Counter)  # (decision, rule) -> count
    fields: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # recipient -> record type -> fields
    policy_versions: list[str] = field(default_factory=list)
    cooption: str = ""
    audit_records: int = 0
    witnessed: list[str] = field(default_factory=list)  # agencies whose witness cosigned the log's newest checkpoint
    verified: str = ""  # `samband audit verify --witnesses 3`, as it reads
    seconds: float = 0.0
    url: str = ""
    follow_up: FollowUpResult | None = None  # the centres' pictures and Bacchus's outcome report
    review: ReviewDemo | None = None  # Polisen's officer at the review queue (`_demo_review`)


def write_polisen_export(path: Path, n: int, seed: int = 2017) -> None:
    """Polisen's export with one malformed line in the middle, as real exports sometimes have."""
    records = polisen.sample(random.Random(seed), n, operation=OPERATION, region="syd")
    with open(path, "wb") as f:
        for i, rec in enumerate(records):
            f.write(msgspec.json.encode(rec) + b"\n")
            if i == n // 2:
                f.write(b'{"kontrollId": "PM-2017-BROKEN", "tidpunkt": \n')


def overload_reports(n: int, seed: int = 2017) -> list[Envelope]:
    """Polisen's heavy-traffic controls: buses weighed over their permitted gross weight."""
    rng = random.Random(seed + 1)
    start = _dt.datetime(2017, 3, 3, 21, 0, tzinfo=_dt.timezone(_dt.timedelta(hours=1)))
    out = []
    for i in range(n):
        vehicle = VehicleRef(plate=synthetic_plate(rng))
        operator = OrganisationRef(orgnr=synthetic_orgnr(rng))
        permitted = rng.choice([18_000, 19_500, 24_000])
        rec = OverloadReport(
            report_id=f"PM-OL-2017-{rng.getrandbits(32):08x}",
            weighed_at=start + _dt.timedelta(minutes=23 * i),
            location="Helsingborg, färjeläget",
            vehicle=vehicle,
            operator=operator,
            measured_kg=permitted + rng.randrange(300, 4_000),
            permitted_kg=permitted,
        )
        out.append(
            Envelope(
                id=new_envelope_id(),
                record=rec,
                region="syd",
                operation=OPERATION,
                produced_at=_dt.datetime.now(_dt.UTC),
                subjects=(vehicle, operator),
                legal_basis="LUS 2016:774",
            )
        )
    return out


def cooption_decision(now: _dt.datetime) -> Envelope:
    """RSR Syd co-opts Transportstyrelsen for the overload reports; SSO publishes it (valid 30 days)."""
    grant = CooptionDecision(
        grant_id=f"bacchus-transportstyrelsen-{now:%Y%m%d}",
        agency="transportstyrelsen",
        operation=OPERATION,
        record_types=("police.overload_report",),
        fields=("report_id", "weighed_at", "location", "vehicle", "operator", "measured_kg", "permitted_kg"),
        valid_from=now - _dt.timedelta(hours=1),
        valid_to=now + _dt.timedelta(days=30),
        decided_by="RSR Syd",
        reason="overload reports for company controls and supervision cases against the bus companies",
        legal_basis="OSL 2009:400 10 kap. 27 §",
    )
    return Envelope(id=new_envelope_id(), record=grant, region="syd", operation=OPERATION, produced_at=now)


R = TypeVar("R", bound=Record)


def _record(env: Envelope, kind: type[R]) -> R:
    """The record this demo put in ``env``, as its own type (an envelope's record may be of any record type)."""
    rec = env.record
    if not isinstance(rec, kind):
        raise TypeError(f"Expected a `{kind.__name__}` record, got `{type(rec).__name__}`")
    return rec


async def publish_decision(dep: Deployment, env: Envelope, council: str = "rsr-syd") -> int:
    """SSO publishes a council's decision, signed with the council's key from the deployment's set-up
    (``<state>/councils``); returns its DECISIONS sequence (what `samband decision` does for people)."""
    body = encode(env)
    rec = env.record
    if isinstance(rec, CooptionDecision):
        subject = decision_subject("cooption", rec.grant_id)
    else:
        subject = decision_subject("operation", _record(env, OperationDecision).operation)
    headers = sign_decision(load_private_key(dep.state_dir / "councils", council), council, body)
    nc = await dep.connect(SSO)
    try:
        with producer_span(subject, message_id=env.id, attributes={"samband.agency": SSO}):
            ack = await nc.jetstream().publish(
                subject, body, headers=inject_headers({**headers, "Nats-Msg-Id": env.id})
            )
    finally:
        await nc.close()
    return ack.seq


class _Envelopes:
    """Polisen's heavy-traffic system hands over envelopes already made: a mapping that takes them as
    they are, so they are published (and traced from their producer) by the same runtime as any export."""

    agency = "polisen"
    format = "jsonl"

    @staticmethod
    def key(env: Envelope) -> str:
        return _record(env, OverloadReport).report_id

    @staticmethod
    def to_envelope(env: Envelope) -> Envelope:
        return env


async def _publish_overload(dep: Deployment, envs: list[Envelope]) -> int:
    nc = await dep.connect("polisen")
    try:
        items = [NativeRecord(f"overload-reports:{i}", b"", env) for i, env in enumerate(envs, 1)]
        summary = await publish_records(nc, _Envelopes, items)  # type: ignore[arg-type]
    finally:
        await nc.close()
    return summary.published


WITNESSES = ("tullverket", "skatteverket", "kronofogden")


async def _start_witnesses(dep: Deployment, stop: asyncio.Event) -> list[tuple[Witness, asyncio.Task, nats.NATS]]:
    """Three agencies' witnesses, each on its own connection, looking at the log every 0.2 s."""
    verifier = load_or_create_signing_key(dep.state_dir / "keys").verifier
    out: list[tuple[Witness, asyncio.Task, nats.NATS]] = []
    for agency in WITNESSES:
        nc = await dep.connect(witness_identity(agency))
        w = Witness(nc, load_witness_key(dep.state_dir, agency), verifier, witness_state_path(dep.state_dir, agency))
        out.append((w, asyncio.create_task(w.run(stop, 0.2), name=f"witness-{agency}"), nc))
    return out


async def _witness_and_verify(dep: Deployment, witnesses: list, stop: asyncio.Event, result: DemoResult) -> None:
    """Wait for every witness to cosign the newest checkpoint, then verify as `audit verify --witnesses 3`."""
    key = load_or_create_signing_key(dep.state_dir / "keys")
    nc = await dep.connect(OVERSIGHT)
    try:
        size = max((_size(n) for _, n in (await read_log(nc, witnesses=False)).checkpoints), default=0)
        deadline = time.monotonic() + 10
        while any(w.state.size < size for w, _, _ in witnesses) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        for _, task, wnc in witnesses:
            await task
            await wnc.close()
        log = await read_log(nc)
    finally:
        await nc.close()
    check = verify_log(log, key.verifier, witnesses=witness_keys(dep.state_dir), quorum=len(WITNESSES))
    result.witnessed = sorted(check.cosigned)
    result.verified = str(check)


def _size(note: bytes) -> int:
    return int(note.split(b"\n", 2)[1])


async def _read_audit(dep: Deployment, result: DemoResult) -> None:
    """The summary, read back from the audit log as the oversight reads it."""
    nc = await dep.connect(OVERSIGHT)
    try:
        log = await read_log(nc, witnesses=False)
    finally:
        await nc.close()
    for data in log.entries:
        rec = ENTRY_DECODER.decode(data)
        if not isinstance(rec, AuditRecord):
            continue
        result.audit_records += 1
        result.rules[(rec.decision, rec.rule)] += 1
        result.per_agency.setdefault(rec.recipient, Counter())[rec.decision] += 1
        if rec.decision == "allow":
            result.fields.setdefault(rec.recipient, {})[rec.record_type] = rec.fields


async def run_demo(n: int = 200, *, timeout: float = 40.0, keep: Path | None = None) -> DemoResult:
    """The demo in a temporary directory, or in ``keep`` (its state stays there: `samband console` on it)."""
    started = time.monotonic()
    result = DemoResult()
    where = tempfile.TemporaryDirectory(prefix="samband-demo-") if keep is None else contextlib.nullcontext(str(keep))
    with where as tmp:
        root = Path(tmp)
        agencies = builtin_agencies()
        # Transportstyrelsen is a network agency: on the bus only once onboarded, as here.
        agencies.setdefault(
            "transportstyrelsen", Agency(slug="transportstyrelsen", name="Transportstyrelsen", tier="network")
        )
        # Polisen reviews its overload reports before any disclosure (its agency file's [review])
        agencies["polisen"] = marked_for_review(agencies["polisen"])
        dep = Deployment(root / "state", agencies=agencies.values())
        dep.start()
        result.url = dep.url
        try:
            await dep.provision()
            live = LivePolicy(shipped_policy_dir(), councils=create_council_keys(dep.state_dir))
            platform = Platform(dep, live, root / "received")
            router = await platform.start_router()
            witness_stop = asyncio.Event()
            witnesses = await _start_witnesses(dep, witness_stop)
            # every party that receives anything has its sink: the Bacchus recipients, the council
            # members the centres' pictures reach, Ruc Syd and the national follow-up
            for agency in sorted(set(dep.agencies) - {"nuc"}):
                await platform.start_sink(agency)
            # SSO's live decision: the router applies it at once (a new policy version)
            decision = cooption_decision(_dt.datetime.now(_dt.UTC))
            grant_id = _record(decision, CooptionDecision).grant_id
            await publish_decision(dep, decision)
            deadline = time.monotonic() + timeout
            while grant_id not in live.grants and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            result.cooption = grant_id
            export = root / "polisen.jsonl"
            write_polisen_export(export, n)
            nc = await dep.connect("polisen")
            summary = await publish_records(nc, polisen, read_jsonl(export))
            await nc.close()
            result.read, result.published = summary.read, summary.published
            result.rejected = [f"{r.position}: {r.reason}" for r in summary.rejected]
            result.overload_reports = await _publish_overload(dep, overload_reports(max(1, n // 10)))
            expected_records = result.published + result.overload_reports
            s = router.stats
            await wait_until_delivered(platform, router, expected_records, deadline)
            result.review = await release_held(dep, router, result.overload_reports, deadline)
            await wait_until_delivered(platform, router, expected_records, deadline)
            result.follow_up = await run_follow_up(dep, platform, router, root, deadline=deadline)
            await asyncio.sleep(0.2)  # let the sinks ack their last batch
            await platform.stop()
            result.decisions, result.allowed, result.denied = s.decisions, s.allowed, s.denied
            result.delivered = dict(s.delivered)
            result.received = {a: len(k) for a, k in platform.sinks.items()}
            result.policy_versions = list(live.versions)
            await _witness_and_verify(dep, witnesses, witness_stop, result)
            await _read_audit(dep, result)
        finally:
            dep.stop()
    result.seconds = time.monotonic() - started
    return result
