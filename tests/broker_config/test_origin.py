"""The origin of a record is the account that published it, never what the payload says."""

from __future__ import annotations

import random

from samband._platform import Platform
from samband.schemas import ENVELOPE
from samband.testing import skeleton_policy

from .._support import audit_entries, wait_for
from ._records import vehicle_control_bytes


async def _audit_for(bus, envelope_id: str) -> list:
    """Every audit entry about ``envelope_id``, read with the auditor's read-only credentials (a refusal is
    audited under its INGEST message; its reason names the envelope id)."""
    return await audit_entries(bus, envelope_id)


async def test_a_record_is_from_the_publishing_account_and_a_forged_origin_is_refused_and_audited(bus, tmp_path):
    rng = random.Random(774)
    honest, honest_bytes = vehicle_control_bytes(rng)  # no origin in the payload: the router fills it in
    forged, forged_bytes = vehicle_control_bytes(rng, origin="polisen")  # tullverket pretending to be polisen
    claims_other, claims_other_bytes = vehicle_control_bytes(
        rng, origin="skatteverket"
    )  # polisen claiming skatteverket
    platform = Platform(bus, skeleton_policy(), tmp_path / "received")
    router = await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    polisen, tullverket = await bus.connect("polisen"), await bus.connect("tullverket")
    try:
        refused_before = router.stats.refused
        for nc, env, data in (
            (polisen, honest, honest_bytes),
            (tullverket, forged, forged_bytes),
            (polisen, claims_other, claims_other_bytes),
        ):
            await nc.jetstream().publish("out.police.vehicle_control", data, headers={"Nats-Msg-Id": env.id})
        await wait_for(lambda: len(sink) >= 1 and router.stats.refused >= refused_before + 2)
    finally:
        await polisen.close()
        await tullverket.close()
        await platform.stop()

    ours = {honest.id, forged.id, claims_other.id}  # the shared bus may hold other tests' records
    delivered = [e for e in map(ENVELOPE.decode, sink.path.read_bytes().splitlines()) if e.id in ours]
    assert [(e.id, e.origin) for e in delivered] == [(honest.id, "polisen")]
    (forged_audit,) = await _audit_for(bus, forged.id)
    assert (forged_audit.origin, forged_audit.decision, forged_audit.rule, forged_audit.reason) == (
        "tullverket",
        "deny",
        "deny.forged-origin",
        f"Expected origin `tullverket` (the publishing account), got `polisen` in the payload (envelope `{forged.id}`)",
    )
    assert forged_audit.envelope_id.startswith("ingest:tullverket:")
    (other_audit,) = await _audit_for(bus, claims_other.id)
    assert (other_audit.origin, other_audit.rule) == ("polisen", "deny.forged-origin")
