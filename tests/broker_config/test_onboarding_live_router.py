"""The whole story: an agency onboarded live is registered with the running router, co-opted by SSO,
receives through the router, and after offboarding receives nothing more while its audit history stays."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from samband._demo import cooption_decision, overload_reports, publish_decision
from samband.broker_config import offboard, onboard
from samband.schemas import ENVELOPE, encode

from .._support import audit_entries, live_router, wait_for

ONBOARDING = Path(__file__).resolve().parents[2] / "examples" / "onboarding"


async def _publish(dep, identity: str, subject: str, env) -> None:
    nc = await dep.connect(identity)
    try:
        await nc.jetstream().publish(subject, encode(env), headers={"Nats-Msg-Id": env.id})
    finally:
        await nc.close()


async def _audit(dep) -> list:
    return await audit_entries(dep)


async def test_an_agency_onboarded_live_receives_through_the_running_router_until_it_is_offboarded(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    live, platform, router = await live_router(dep, tmp_path)
    try:
        await onboard(dep, ONBOARDING / "transportstyrelsen.toml")
        # registered with the running router, no restart
        await wait_for(
            lambda: "transportstyrelsen" in live.registrations and live.registrations["transportstyrelsen"].active
        )
        sink = await platform.start_sink("transportstyrelsen")
        grant = cooption_decision(_dt.datetime.now(_dt.UTC))
        await publish_decision(dep, grant, "rsr-syd")
        await wait_for(lambda: grant.record.grant_id in live.grants)
        first, second = overload_reports(2, seed=7740)
        await _publish(dep, "polisen", "out.police.overload_report", first)
        await wait_for(lambda: len(sink) >= 1)
        assert ENVELOPE.decode(sink.path.read_bytes().splitlines()[0]).id == first.id

        await offboard(dep, "transportstyrelsen")
        await wait_for(lambda: "transportstyrelsen" not in live.current.data.agencies)
        records_before = router.stats.records
        await _publish(dep, "polisen", "out.police.overload_report", second)
        await wait_for(lambda: router.stats.records > records_before)
    finally:
        await platform.stop()
    trail = await _audit(dep)
    to_ts = [(r.envelope_id, r.decision) for r in trail if r.recipient == "transportstyrelsen"]
    assert (first.id, "allow") in to_ts  # its history stays
    assert (second.id, "allow") not in to_ts  # and nothing more is disclosed to it
