"""A decision message the router refuses is audited (`deny.decision-refused`): the reason, the
message's stream and sequence, the council it claims, never the payload's personal data; a flood of
forged ones is audited, bounded, while records keep flowing."""

from __future__ import annotations

import base64
import datetime as _dt

from samband._demo import publish_decision
from samband._platform import Platform
from samband.broker_config import SSO
from samband.router import LivePolicy, create_council_keys
from samband.schemas import PNR_SHAPE, CooptionDecision, Envelope, encode, new_envelope_id
from samband.schemas.layout import decision_subject

from .._support import SHIPPED, audit_entries, live_router, wait_for
from .test_citations import polisen_publishes

NOW = _dt.datetime.now(_dt.UTC)
PNR = "198503152386"


def grant(grant_id: str = "bacchus-kbv", *, region: str = "syd", reason: str = "crews on the buses") -> Envelope:
    rec = CooptionDecision(
        grant_id=grant_id,
        agency="kustbevakningen",
        operation="bacchus-2017",
        record_types=("police.vehicle_control",),
        fields=("control_id", "controlled_at", "location", "vehicle", "vehicle_kind"),
        valid_from=NOW - _dt.timedelta(hours=1),
        valid_to=NOW + _dt.timedelta(days=1),
        decided_by="RSR Syd",
        reason=reason,
        legal_basis="LUS 2016:774",
    )
    return Envelope(id=new_envelope_id(), record=rec, region=region, operation="bacchus-2017", produced_at=NOW)


async def forge(dep, n: int) -> None:
    """Someone with SSO's credentials but no council's key publishes ``n`` decisions with made-up signatures."""
    nc = await dep.connect(SSO)
    js = nc.jetstream()
    try:
        for i in range(n):
            env = grant(f"forged-{i}")
            headers = {
                "Samband-Council": "rsr-syd",
                "Samband-Signature": "ed25519:" + base64.b64encode(bytes([i % 256]) * 64).decode(),
                "Nats-Msg-Id": env.id,
            }
            await js.publish(decision_subject("cooption", f"forged-{i}"), encode(env), headers=headers)
    finally:
        await nc.close()


async def test_a_decision_signed_by_the_wrong_council_is_refused_and_audited_once_across_a_restart(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    keys = create_council_keys(dep.state_dir)
    live = LivePolicy(SHIPPED, councils=keys)
    platform = Platform(dep, live, tmp_path / "received")
    router = await platform.start_router()
    try:
        await wait_for(router.ready.is_set)
        # RSR Mitt signs a grant in Syd's operation; its text carries a personnummer
        await publish_decision(dep, grant(region="mitt", reason=f"driver {PNR}"), "rsr-mitt")
        await wait_for(lambda: router.stats.audited >= 1)
    finally:
        await platform.stop()
    (entry,) = await audit_entries(dep)
    assert (entry.envelope_id, entry.rule, entry.decision, entry.origin, entry.recipient) == (
        "DECISIONS#1",
        "deny.decision-refused",
        "deny",
        "rsr-mitt",
        "-",
    )
    assert (entry.record_type, entry.region, entry.policy_version) == (
        "council.cooption_decision",
        "mitt",
        live.version,
    )
    assert entry.reason == live.history[0].reason
    assert entry.reason.startswith("Expected a decision within rsr-mitt's scope (mitt)")
    assert PNR not in encode(entry).decode() and not PNR_SHAPE.search(encode(entry).decode())

    # a restarted router meets the refusal again while replaying and does not audit it twice
    again = LivePolicy(SHIPPED, councils=keys)
    platform2 = Platform(dep, again, tmp_path / "received2")
    router2 = await platform2.start_router()
    try:
        await wait_for(router2.ready.is_set)
        await wait_for(lambda: router2.decision_refusals.refusals == 1 and not router2.decision_refusals.pending)
    finally:
        await platform2.stop()
    assert len(await audit_entries(dep)) == 1


async def test_a_flood_of_forged_decisions_is_audited_bounded_without_stopping_routing(fresh_deployment, tmp_path):
    dep = fresh_deployment
    live, platform, router = await live_router(dep, tmp_path)
    sink = await platform.start_sink("tullverket")
    try:
        router.decision_refusals.per_window = 20
        await forge(dep, 300)
        await polisen_publishes(dep, 3, seed=41)  # records published behind the flood are routed
        await wait_for(lambda: len(sink) >= 3)
        await wait_for(lambda: router.decision_refusals.refusals >= 300)
    finally:
        await platform.stop()
    trail = await audit_entries(dep)
    refused = [r for r in trail if r.rule == "deny.decision-refused"]
    one_by_one = [r for r in refused if ".." not in r.envelope_id]
    assert len(one_by_one) == 20 and {r.origin for r in refused} == {"rsr-syd"}
    assert [r.envelope_id for r in one_by_one] == [f"DECISIONS#{n}" for n in range(1, 21)]
    assert {(r.reason, r.record_type) for r in one_by_one} == {
        (
            "Expected a valid signature of rsr-syd over the decision, got one that does not verify "
            "(the message was altered after signing, or signed with another key)",
            "council.decision",  # not decoded: a message is read only once its signature holds
        )
    }
    (summary,) = [r for r in refused if ".." in r.envelope_id]
    assert summary.envelope_id == "DECISIONS#21..300"
    assert summary.reason.startswith(
        "280 more decision messages claiming rsr-syd were refused from DECISIONS#21 to #300"
    )
    assert live.version == router.policy.version and not live.grants  # nothing forged took effect
