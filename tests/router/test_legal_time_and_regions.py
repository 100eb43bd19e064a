"""Legal time is Swedish time, and an agency's declared regions are honoured (issue #16, the policy faults)."""

from __future__ import annotations

import datetime as _dt
import random

import msgspec
import pytest

from samband.router import Policy
from samband.router._model import AgencyEntry
from samband.schemas import Envelope, OrganisationRef, TaxAudit, new_envelope_id, synthetic_orgnr

from .._support import AT, overload_report, vehicle_control

STOCKHOLM_SUMMER = _dt.timezone(_dt.timedelta(hours=2))
STOCKHOLM_WINTER = _dt.timezone(_dt.timedelta(hours=1))


def _replace(data, **tables):
    return Policy.compile(msgspec.structs.replace(data, **tables))


def _with_operation(data, op_id: str, **changes):
    op = msgspec.structs.replace(data.operations[op_id], **changes)
    return {**data.operations, op_id: op}


def _tax_audit_in_vast() -> Envelope:
    org = OrganisationRef(orgnr=synthetic_orgnr(random.Random(5)))
    return Envelope(
        id=new_envelope_id(),
        origin="skatteverket",
        region="vast",
        operation="vast-arbetslivskriminalitet-2022",
        produced_at=AT,
        subjects=(org,),
        record=TaxAudit(audit_id="SKV-1", opened_on=_dt.date(2022, 4, 1), taxpayer=org, scope="arbetsgivaravgifter"),
    )


# ---- legal time ---------------------------------------------------------------------------
def test_lus_covers_arbetsmiljoverket_from_swedish_midnight_on_2022_05_01(policy):
    env = _tax_audit_in_vast()
    late_evening = policy.decide(env, "arbetsmiljoverket", _dt.datetime(2022, 4, 30, 23, 59, tzinfo=STOCKHOLM_SUMMER))
    half_past_midnight = policy.decide(
        env, "arbetsmiljoverket", _dt.datetime(2022, 5, 1, 0, 30, tzinfo=STOCKHOLM_SUMMER)
    )
    assert (late_evening.allow, late_evening.rule) == (False, "deny.no-legal-basis")
    assert late_evening.reason == (
        "LUS 2016:774 does not cover both skatteverket and arbetsmiljoverket on 2022-04-30 (Swedish time)"
    )
    assert (half_past_midnight.allow, half_past_midnight.rule) == (
        True,
        "vast-arbetslivskriminalitet-2022/tax-audit.workplace",
    )


def test_lus_covers_tullverket_from_swedish_midnight_on_2016_08_15(shipped_data):
    # Operation Bacchus as if decided a fortnight earlier: the statute, not the operation, decides here.
    policy = _replace(
        shipped_data, operations=_with_operation(shipped_data, "bacchus-2017", valid_from=_dt.date(2016, 8, 1))
    )
    env = vehicle_control()
    before = policy.decide(env, "tullverket", _dt.datetime(2016, 8, 14, 23, 30, tzinfo=STOCKHOLM_SUMMER))
    after = policy.decide(env, "tullverket", _dt.datetime(2016, 8, 15, 0, 30, tzinfo=STOCKHOLM_SUMMER))
    assert (before.allow, before.rule) == (False, "deny.no-legal-basis")
    assert (after.allow, after.rule) == (True, "bacchus-2017/vehicle-control.customs")


def test_an_operation_decided_from_2016_11_01_is_in_force_at_half_past_midnight_swedish_time(policy):
    env = vehicle_control()
    d = policy.decide(env, "tullverket", _dt.datetime(2016, 11, 1, 0, 30, tzinfo=STOCKHOLM_WINTER))
    assert (d.allow, d.rule) == (True, "bacchus-2017/vehicle-control.customs")
    before = policy.decide(env, "tullverket", _dt.datetime(2016, 10, 31, 23, 59, tzinfo=STOCKHOLM_WINTER))
    assert (before.rule, before.reason) == (
        "deny.operation-not-in-force",
        "operation bacchus-2017 is in force from 2016-11-01 to further notice only (Swedish calendar days)",
    )


def test_an_operation_ends_at_swedish_midnight_after_its_last_day(policy, shipped_data):
    env = _tax_audit_in_vast()
    last_minute = policy.decide(env, "skatteverket", _dt.datetime(2022, 12, 31, 23, 59, tzinfo=STOCKHOLM_WINTER))
    after = policy.decide(env, "migrationsverket", _dt.datetime(2023, 1, 1, 0, 30, tzinfo=STOCKHOLM_WINTER))
    assert last_minute.rule == "deny.own-record"  # the sender; what matters is that the gate let it through
    assert (after.allow, after.rule) == (False, "deny.operation-not-in-force")


# ---- declared regions ------------------------------------------------------------------------
def _declaring(shipped_data, **regions):
    agencies = dict(shipped_data.agencies)
    for slug, declared in regions.items():
        agencies[slug] = msgspec.structs.replace(agencies[slug], regions=declared)
    return agencies


def test_a_vast_agency_never_receives_from_an_operation_in_syd_unless_a_grant_names_syd(shipped_data):
    agencies = _declaring(shipped_data, transportstyrelsen=("stockholm", "vast"))
    policy = _replace(shipped_data, agencies=agencies)
    at = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=STOCKHOLM_WINTER)
    denied = policy.decide(overload_report(), "transportstyrelsen", at)
    assert (denied.allow, denied.rule) == (False, "deny.outside-agency-regions")
    assert denied.reason == (
        "transportstyrelsen declared the regions stockholm, vast; operation bacchus-2017 belongs to syd, "
        "and no co-option grant names syd"
    )
    assert "transportstyrelsen" in policy.candidates(overload_report())  # still decided for, and audited

    grant = shipped_data.grants["bacchus-2017-transportstyrelsen"]
    named = {**shipped_data.grants, "bacchus-2017-transportstyrelsen": msgspec.structs.replace(grant, regions=("syd",))}
    policy = _replace(shipped_data, agencies=agencies, grants=named)
    allowed = policy.decide(overload_report(), "transportstyrelsen", at)
    assert (allowed.allow, allowed.rule) == (True, "cooption.bacchus-2017-transportstyrelsen")


def test_a_participant_outside_its_declared_regions_neither_receives_nor_sends(shipped_data):
    policy = _replace(shipped_data, agencies=_declaring(shipped_data, kronofogden=("vast",), polisen=("national",)))
    at = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=STOCKHOLM_WINTER)
    assert policy.decide(vehicle_control(), "kronofogden", at).rule == "deny.outside-agency-regions"
    sent_by_polisen = dict(policy.route(vehicle_control(), at))
    assert {d.rule for d in sent_by_polisen.values()} == {"deny.outside-agency-regions"}


def test_an_agency_that_declared_no_regions_takes_part_everywhere(policy, shipped_data):
    assert shipped_data.agencies["tullverket"].regions is None
    assert policy.decide(vehicle_control(), "tullverket", AT).allow


# ---- rule ids per operation -----------------------------------------------------------------------
@pytest.mark.parametrize("op_id", ["bacchus-2017", "mitt-valfard-2020", "np-strategiska-personer"])
def test_every_allow_names_the_operation_it_was_made_in(policy, op_id):
    for rt, row in policy._ops[op_id].table.items():
        for recipient, entry in row.items():
            if entry.need is not None:
                assert entry.need.rule.startswith(f"{op_id}/"), (rt, recipient, entry.need.rule)


def test_an_allow_in_a_mitt_operation_is_never_recorded_as_a_bacchus_rule(policy):
    mitt = {rt: row for rt, row in policy._ops["mitt-valfard-2020"].table.items()}
    rules = {e.need.rule for row in mitt.values() for e in row.values() if e.need is not None}
    assert rules and not any(r.startswith("bacchus") for r in rules)
    assert "mitt-valfard-2020/reassessment.enforcement" in rules


def test_an_agency_entry_without_regions_compiles_like_before(shipped_data):
    assert AgencyEntry(name="x", tier="core").regions is None
