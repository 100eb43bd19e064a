"""Poison records never stop routing: a record the router cannot route within its tries, or that the
audit trail cannot store, is quarantined with its reason and attempts, audited, and the others go on;
a repeated envelope id is recognised from the ledger across a restart of the router."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import msgspec
from nats.js.api import AckPolicy, ConsumerConfig

from samband._platform import Platform
from samband.broker_config import AUDIT_ADMIN, ROUTER, onboard
from samband.schemas import PersonRef, encode, synthetic_personnummer
from samband.testing import skeleton_policy

from .._support import audit_since, live_router, vehicle_control, wait_for

ONBOARDING = Path(__file__).resolve().parents[2] / "examples" / "onboarding"


async def _publish(dep, agency: str, envs) -> None:
    nc = await dep.connect(agency)
    try:
        for env in envs:
            await nc.jetstream().publish(f"out.{env.record_type}", encode(env), headers={"Nats-Msg-Id": env.id})
    finally:
        await nc.close()


async def _quarantined(dep) -> list:
    nc = await dep.connect(ROUTER)
    try:
        js = nc.jetstream()
        state = (await js.stream_info("QUARANTINE")).state
        return [await js.get_msg("QUARANTINE", seq) for seq in range(state.first_seq, state.last_seq + 1)]
    finally:
        await nc.close()


async def test_a_record_handed_to_the_router_too_often_is_quarantined_audited_and_the_rest_flows(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    rng = random.Random(71)
    poison, *rest = [vehicle_control(rng, origin=None) for _ in range(3)]
    await _publish(dep, "polisen", [poison])
    # as five routers that each took it and died before routing it: handed over and given back five times
    rc = await dep.connect(ROUTER)
    try:
        js = rc.jetstream()
        await js.add_consumer(
            "INGEST_polisen",
            ConsumerConfig(
                durable_name="router",
                filter_subject="ingest.polisen.>",
                ack_policy=AckPolicy.EXPLICIT,
                max_ack_pending=4096,
                ack_wait=60,
            ),
        )
        psub = await js.pull_subscribe_bind("router", stream="INGEST_polisen")
        for _ in range(5):
            (msg,) = await psub.fetch(1, timeout=5)
            assert msg.data == encode(poison)
            await msg.nak()
        await psub.unsubscribe()
    finally:
        await rc.close()
    await _publish(dep, "polisen", rest)
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    router = await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    try:
        await wait_for(lambda: len(sink) >= 2 and router.stats.quarantined >= 1, timeout=20)
    finally:
        await platform.stop()
    assert poison.id not in sink and all(env.id in sink for env in rest)
    (q,) = await _quarantined(dep)
    assert q.data == encode(poison)
    assert (q.subject, q.headers["Samband-Attempts"], q.headers["Samband-Ingest"]) == (
        "quarantine.polisen.route",
        "6",
        "INGEST_polisen #1",
    )
    reason = "Expected a record routed within 5 tries, got it handed to the router 6 times - at `ingest:polisen:1`"
    assert q.headers["Samband-Reason"] == reason
    (entry,) = [r for r in await audit_since(dep, 0) if r.rule == "deny.quarantined"]
    assert (entry.envelope_id, entry.origin, entry.recipient, entry.reason) == (
        "ingest:polisen:1",
        "polisen",
        "-",
        reason,
    )


async def test_a_record_the_trail_cannot_store_is_quarantined_and_the_others_are_audited_and_delivered(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    st = await dep.connect(AUDIT_ADMIN)
    try:
        js = st.jetstream()
        info = await js.stream_info("AUDIT")
        # the audit admin's limit, which the router cannot change: no message of the log over 8 KiB
        await js.update_stream(dataclasses.replace(info.config, max_msg_size=8 * 1024))
    finally:
        await st.close()
    rng = random.Random(72)
    crowd = tuple(PersonRef(pnr=synthetic_personnummer(rng)) for _ in range(200))
    poison = msgspec.structs.replace(vehicle_control(rng, origin=None), subjects=crowd)  # 200 pseudonyms: ~14 KiB
    honest = [vehicle_control(rng, origin=None) for _ in range(6)]
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    router = await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    try:
        await _publish(dep, "polisen", [*honest[:3], poison, *honest[3:]])
        await wait_for(lambda: len(sink) >= 6 and router.stats.quarantined >= 1, timeout=30)
        assert not router.blocked
    finally:
        await platform.stop()
    assert poison.id not in sink and all(env.id in sink for env in honest)
    (q,) = await _quarantined(dep)
    assert q.data == encode(poison) and q.headers["Samband-Ingest"] == "INGEST_polisen #4"
    assert q.headers["Samband-Reason"].startswith(
        "Expected the audit append to be stored, got a refusal: message size exceeds maximum allowed"
    )
    audited = await audit_since(dep, 0)
    assert {r.envelope_id for r in audited if r.decision == "allow"} == {env.id for env in honest}
    (entry,) = [r for r in audited if r.rule == "deny.quarantined"]
    assert entry.envelope_id == "ingest:polisen:4" and entry.subjects == ()


async def test_a_reused_envelope_id_is_recognised_after_the_router_restarts(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    rng = random.Random(73)
    first = vehicle_control(rng, origin=None)
    again = msgspec.structs.replace(vehicle_control(rng, origin=None), id=first.id)  # the same id, other content
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    await _publish(dep, "polisen", [first])
    await wait_for(lambda: len(sink) >= 1)
    await platform.stop()
    rc = await dep.connect(ROUTER)
    try:
        # routed and audited: gone from INGEST (a work queue), remembered only by the ledger
        assert (await rc.jetstream().stream_info("INGEST_polisen")).state.messages == 0
        entry = await rc.jetstream().get_last_msg("KV_LEDGER", f"$KV.LEDGER.{first.id}")
        assert msgspec.json.decode(entry.data)["o"] == "polisen"
    finally:
        await rc.close()
    # a new router: nothing of the first one's memory, only what is durable
    platform = Platform(dep, skeleton_policy(), tmp_path / "received-2")
    router = await platform.start_router()
    try:
        nc = await dep.connect("polisen")
        try:
            await nc.jetstream().publish("out.police.vehicle_control", encode(again), headers={"Nats-Msg-Id": "again"})
        finally:
            await nc.close()
        await wait_for(lambda: router.stats.refused >= 1)
    finally:
        await platform.stop()
    (entry,) = [r for r in await audit_since(dep, 0) if r.rule == "deny.reused-id"]
    assert entry.reason == (
        f"Expected a new envelope id, got one this agency used before for other content - at `$.id` "
        f"(envelope `{first.id}`)"
    )


async def test_an_agency_onboarded_while_the_router_runs_is_routed_from(fresh_deployment, tmp_path):
    dep = fresh_deployment
    _live, platform, router = await live_router(dep, tmp_path)
    try:
        await onboard(dep, ONBOARDING / "csn.toml")
        await wait_for(lambda: "csn" in router.directory.sends, timeout=20)
        await wait_for(lambda: "csn" in router.origins, timeout=20)  # its INGEST_csn is pulled from
        before = router.stats.records
        env = msgspec.structs.replace(vehicle_control(random.Random(74), origin=None))
        nc = await dep.connect("csn")
        try:
            # csn's file does not list vehicle controls: refused at the edge, which shows it was routed from
            await nc.jetstream().publish("out.police.vehicle_control", encode(env), headers={"Nats-Msg-Id": env.id})
        finally:
            await nc.close()
        await wait_for(lambda: router.stats.records > before and router.stats.refused >= 1, timeout=20)
    finally:
        await platform.stop()
    (entry,) = [r for r in await audit_since(dep, 0) if r.origin == "csn"]
    assert entry.rule == "deny.not-a-sender-of-type"
