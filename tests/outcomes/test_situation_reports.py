"""Nuc's national situation picture and a Ruc's regional one reach the councils' members, each cut to its need.

Nuc publishes in the national cooperation (Operativa rådet's members), a Ruc in its region's
(the RSR's members); the law-enforcement agencies' intelligence functions get the priority persons,
the other members the picture without them, and the persons leave the envelope's subjects too.
"""

from __future__ import annotations

import datetime as _dt

from samband.adapters import CORE_AGENCIES
from samband.schemas import Envelope, PersonRef, SituationReport, new_envelope_id

from .._support import audited, inbox_envelopes, send_as

CORE = CORE_AGENCIES
WITH_PERSONS = {
    "polisen",
    "sakerhetspolisen",
    "ekobrottsmyndigheten",
    "kriminalvarden",
    "kustbevakningen",
    "tullverket",
}
PERSON = PersonRef(pnr="194007307897")


def picture(centre: str, name: str, *, region: str, operation: str) -> Envelope:
    report = SituationReport(
        report_id=f"{centre.upper()}-{new_envelope_id()[:8]}",
        centre=name,
        period_from=_dt.date(2026, 10, 1),
        period_to=_dt.date(2026, 10, 31),
        summary="Synthetic picture: strategic persons moving from liquor smuggling into welfare fraud.",
        priority_persons=(PERSON,),
    )
    return Envelope(
        id=new_envelope_id(),
        record=report,
        region=region,
        operation=operation,
        produced_at=_dt.datetime.now(_dt.UTC),
        subjects=(PERSON,),
        legal_basis="LUS 2016:774",
    )


async def received(follow_up, agency: str, env: Envelope) -> Envelope | None:
    got = [e for e in await inbox_envelopes(follow_up.dep, agency, "intel.situation_report") if e.id == env.id]
    return got[0] if got else None


async def test_nucs_national_picture_reaches_every_member_of_operativa_radet_cut_to_its_need(follow_up):
    env = picture("nuc", "Nuc", region="national", operation="samverkan-nationell")
    await send_as(follow_up.dep, "nuc", env)
    entries = await audited(follow_up.dep, env.id, count=len(CORE))
    assert {(e.recipient, e.decision) for e in entries} == {(a, "allow") for a in CORE}
    assert {e.legal_basis for e in entries} == {"LUS 2016:774"}
    for agency in ("polisen", "skatteverket", "aklagarmyndigheten"):
        got = await received(follow_up, agency, env)
        assert got is not None and got.origin == "nuc"
        if agency in WITH_PERSONS:
            assert (got.record.priority_persons, got.subjects) == ((PERSON,), (PERSON,))
        else:  # the picture, without the names
            assert (got.record.priority_persons, got.subjects) == ((), ())
            assert got.record.summary == env.record.summary


async def test_ruc_mitts_regional_picture_reaches_rsr_mitts_members_and_not_the_follow_up(follow_up):
    env = picture("ruc_mitt", "Ruc Mitt", region="mitt", operation="samverkan-mitt")
    await send_as(follow_up.dep, "ruc_mitt", env)
    entries = await audited(follow_up.dep, env.id, count=len(CORE))
    assert {e.recipient for e in entries if e.decision == "allow"} == set(CORE)
    rules = {e.recipient: e.rule for e in entries}
    assert (rules["tullverket"], rules["forsakringskassan"]) == (
        "samverkan-mitt/situation-report.intelligence",
        "samverkan-mitt/situation-report.picture",
    )
    fk = await received(follow_up, "forsakringskassan", env)
    assert fk is not None and fk.record.priority_persons == ()
    assert await received(follow_up, "ruc_syd", env) is None
    assert await received(follow_up, "uppfoljning", env) is None


async def test_a_ruc_cannot_publish_its_picture_into_another_regions_cooperation(follow_up):
    env = picture("ruc_mitt", "Ruc Mitt", region="syd", operation="samverkan-syd")
    await send_as(follow_up.dep, "ruc_mitt", env)
    (entry,) = await audited(follow_up.dep, env.id)
    assert (entry.recipient, entry.decision, entry.rule) == ("-", "deny", "deny.sender-not-participant")
    assert await received(follow_up, "polisen", env) is None
