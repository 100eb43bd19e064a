"""A co-opted agency on a running router: it receives under its grant and stops receiving the moment the grant
expires or SSO revokes it, while Polisen's records keep flowing before, across and after the change; the
participants get every record throughout, and the audit trail shows each decision under the right rule."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random

import msgspec

from samband._demo import publish_decision
from samband.adapters import NativeRecord, publish_records
from samband.adapters.agencies import polisen
from samband.observability.audit import AuditRecord
from samband.schemas import CooptionDecision, Envelope, new_envelope_id

from .._support import audit_entries, live_router, wait_for

CO_OPTED, PARTICIPANT = "kustbevakningen", "tullverket"
GRANT = "bacchus-kbv-live"


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _grant(valid_to: _dt.datetime, *, revoked: bool = False) -> Envelope:
    now = _utcnow()
    rec = CooptionDecision(
        grant_id=GRANT,
        agency=CO_OPTED,
        operation="bacchus-2017",
        record_types=("police.vehicle_control",),
        fields=("control_id", "controlled_at", "location", "vehicle", "vehicle_kind"),
        valid_from=now - _dt.timedelta(hours=1),
        valid_to=valid_to,
        decided_by="RSR Syd",
        reason="vessels' crews on the liquor buses",
        legal_basis="LUS 2016:774",
        revoked=revoked,
    )
    return Envelope(id=new_envelope_id(), record=rec, region="syd", operation="bacchus-2017", produced_at=now)


class RecordFlow:
    """Polisen publishing Bacchus vehicle controls, a few at a time, one batch after another, until the block ends."""

    def __init__(self, dep, seed: int) -> None:
        self.dep, self.rng, self.seed = dep, random.Random(seed), seed
        self.published: list[str] = []  # control ids, in order
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        nc = await self.dep.connect("polisen")
        try:
            while not self._stop.is_set():
                natives = polisen.sample(self.rng, 4, operation="bacchus-2017", region="syd")
                for n in natives:
                    n["kontrollId"] = f"PM-FLOW-{self.seed}-{len(self.published):05d}"
                    self.published.append(n["kontrollId"])
                summary = await publish_records(nc, polisen, [NativeRecord(k, b"", n) for k, n in enumerate(natives)])
                assert summary.published == len(natives)
                await asyncio.sleep(0.02)  # a steady trickle, not a flood
        finally:
            await nc.close()

    async def __aenter__(self) -> RecordFlow:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


async def _trail(dep) -> list[AuditRecord]:
    return await audit_entries(dep)


def _control_ids(sink) -> list[str]:
    return [msgspec.json.decode(line)["record"]["control_id"] for line in sink.path.read_bytes().splitlines()]


async def _running(dep, tmp_path):
    live, platform, router = await live_router(dep, tmp_path)
    sinks = (await platform.start_sink(CO_OPTED), await platform.start_sink(PARTICIPANT))
    return live, platform, router, sinks


async def _all_routed(router, flow: RecordFlow, co_opted, participant) -> None:
    def everything_routed() -> bool:
        """the router has routed every published record and both sinks wrote what it delivered to them"""
        delivered = router.stats.delivered
        return (
            router.stats.records >= len(flow.published)
            and len(participant) >= len(flow.published)
            and len(co_opted) >= delivered.get(CO_OPTED, 0)
        )

    await wait_for(everything_routed, timeout=60)


async def test_a_co_opted_agency_stops_receiving_when_its_grant_expires_while_records_flow(fresh_deployment, tmp_path):
    dep = fresh_deployment
    live, platform, router, (co_opted, participant) = await _running(dep, tmp_path)
    try:
        expires = _utcnow() + _dt.timedelta(seconds=5)
        await publish_decision(dep, _grant(expires))
        await wait_for(lambda: GRANT in live.grants)
        async with RecordFlow(dep, seed=5) as flow:
            await wait_for(lambda: len(co_opted) >= 1, what="a record delivered under the grant")
            await wait_for(lambda: _utcnow() > expires, timeout=30, what="the grant's end")
            after = router.stats.records
            await wait_for(lambda: router.stats.records >= after + 20, timeout=30, what="records after the end")
        await _all_routed(router, flow, co_opted, participant)
    finally:
        await platform.stop()
    mine = [e for e in await _trail(dep) if e.recipient == CO_OPTED]
    allowed = {e.envelope_id for e in mine if e.decision == "allow"}
    assert {(e.decision, e.rule, e.at < expires) for e in mine} == {
        ("allow", f"cooption.{GRANT}", True),
        ("deny", "deny.cooption-expired", False),
    }, "allowed before the end, denied (and audited) after it"
    assert len(mine) == len(flow.published)  # a decision for every record, before and after
    received = [msgspec.json.decode(line)["id"] for line in co_opted.path.read_bytes().splitlines()]
    assert sorted(received) == sorted(allowed)
    assert sorted(_control_ids(participant)) == sorted(flow.published)  # the participant got every record


async def test_a_co_opted_agency_stops_receiving_when_sso_revokes_its_grant_while_records_flow(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    live, platform, router, (co_opted, participant) = await _running(dep, tmp_path)
    try:
        await publish_decision(dep, _grant(_utcnow() + _dt.timedelta(days=30)))
        await wait_for(lambda: GRANT in live.grants)
        granted = live.version
        async with RecordFlow(dep, seed=6) as flow:
            await wait_for(lambda: len(co_opted) >= 3, what="records delivered under the grant")
            await publish_decision(dep, _grant(_utcnow() + _dt.timedelta(days=30), revoked=True))
            await wait_for(lambda: live.grants[GRANT].revoked, what="the revocation applied")
            revoked = live.version
            after = router.stats.records
            await wait_for(lambda: router.stats.records >= after + 20, timeout=30, what="records after the revocation")
        await _all_routed(router, flow, co_opted, participant)
    finally:
        await platform.stop()
    assert revoked != granted
    trail = await _trail(dep)
    mine = [e for e in trail if e.recipient == CO_OPTED and e.decision == "allow"]
    assert mine and {(e.rule, e.policy_version, e.authority.ref) for e in mine} == {
        (f"cooption.{GRANT}", granted, "DECISIONS#1")
    }
    after_revocation = {e.envelope_id for e in trail if e.policy_version == revoked}
    assert after_revocation, "records flowed after the revocation"
    assert not after_revocation & {e.envelope_id for e in mine}
    # each record after it is denied to the agency, citing the decision that revoked the grant
    denied = [e for e in trail if e.recipient == CO_OPTED and e.decision == "deny"]
    assert {e.envelope_id for e in denied} == after_revocation
    assert {(e.rule, e.authority.ref, e.authority.council) for e in denied} == {
        ("deny.cooption-revoked", "DECISIONS#2", "rsr-syd")
    }
    received = [msgspec.json.decode(line)["id"] for line in co_opted.path.read_bytes().splitlines()]
    assert sorted(received) == sorted(e.envelope_id for e in mine)
    assert sorted(_control_ids(participant)) == sorted(flow.published)
