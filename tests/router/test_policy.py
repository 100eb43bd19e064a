"""The compiled demo policy (Operation Bacchus) decides as the councils decided."""

from __future__ import annotations

import datetime as _dt
import random
import shutil

import msgspec
import pytest

from samband.router import NOBODY, Policy, PolicyError, load_policy_dir
from samband.router._model import Coverage, LegalBasis, Need
from samband.schemas import Handling
from samband.testing import skeleton_policy

from .._support import AT, SHIPPED, UTC, overload_report, vehicle_control

ALL_VC = (
    "control_id",
    "controlled_at",
    "location",
    "vehicle",
    "vehicle_kind",
    "driver",
    "passengers",
    "identified_passengers",
    "remark",
)
VC_WITH_DRIVER = ("control_id", "controlled_at", "location", "vehicle", "vehicle_kind", "driver")
VC_WHO_TRAVELLED = (*VC_WITH_DRIVER, "identified_passengers")


@pytest.mark.parametrize(
    "recipient,rule,purpose,fields",
    [
        ("tullverket", "bacchus-2017/vehicle-control.customs", "customs_control", ALL_VC),
        ("skatteverket", "bacchus-2017/vehicle-control.tax", "tax_control", ALL_VC),
        ("forsakringskassan", "bacchus-2017/vehicle-control.benefits", "benefit_control", VC_WHO_TRAVELLED),
        ("arbetsformedlingen", "bacchus-2017/vehicle-control.benefits", "benefit_control", VC_WHO_TRAVELLED),
        ("kronofogden", "bacchus-2017/vehicle-control.enforcement", "enforcement", VC_WHO_TRAVELLED),
        ("migrationsverket", "bacchus-2017/vehicle-control.migration", "migration_control", VC_WHO_TRAVELLED),
        ("ekobrottsmyndigheten", "bacchus-2017/vehicle-control.economic-crime", "economic_crime", ALL_VC),
    ],
)
def test_a_helsingborg_vehicle_control_reaches_each_bacchus_agency_with_the_fields_its_task_needs(
    policy, recipient, rule, purpose, fields
):
    d = policy.decide(vehicle_control(), recipient, AT)
    assert (d.allow, d.rule, d.purpose, d.fields, d.legal_basis) == (True, rule, purpose, fields, "LUS 2016:774")
    assert d.policy_version == policy.version and not d.no_onward_sharing


def test_the_route_of_a_vehicle_control_decides_for_every_participant_and_the_co_opted_agency_but_not_the_sender(
    policy,
):
    decisions = dict(policy.route(vehicle_control(), AT))
    assert sorted(decisions) == [
        "arbetsformedlingen",
        "ekobrottsmyndigheten",
        "forsakringskassan",
        "kronofogden",
        "migrationsverket",
        "skatteverket",
        "transportstyrelsen",
        "tullverket",
    ]
    assert decisions["ekobrottsmyndigheten"].rule == "bacchus-2017/vehicle-control.economic-crime"
    assert decisions["transportstyrelsen"].rule == "deny.outside-grant"
    assert decisions["transportstyrelsen"].reason == (
        "transportstyrelsen is co-opted to operation bacchus-2017 for police.overload_report only, not police.vehicle_control"
    )


def test_the_sender_never_receives_its_own_record_back(policy):
    d = policy.decide(vehicle_control(), "polisen", AT)
    assert (d.allow, d.rule, d.reason) == (False, "deny.own-record", "the sender never receives its own record back")


def test_a_record_of_an_unknown_operation_is_denied_once_for_the_record_itself(policy):
    [(recipient, d)] = policy.route(vehicle_control(operation="bacchus-2099"), AT)
    assert (recipient, d.allow, d.rule) == (NOBODY, False, "deny.unknown-operation")
    assert d.reason == "no operation 'bacchus-2099' has been decided; nothing is routed outside an operation"


def test_a_record_of_a_closed_operation_is_denied(policy):
    env = vehicle_control(operation="vast-arbetsplatser-2017", region="vast")
    [(recipient, d)] = policy.route(env, _dt.datetime(2017, 6, 1, tzinfo=UTC))
    assert (recipient, d.rule, d.reason) == (
        NOBODY,
        "deny.operation-closed",
        "operation vast-arbetsplatser-2017 is closed",
    )


def test_a_regions_operation_never_carries_a_record_marked_for_another_region(policy):
    d = policy.decide(vehicle_control(region="vast"), "tullverket", AT)
    assert (d.allow, d.rule) == (False, "deny.outside-scope")
    assert d.reason == "the record is marked for region vast, operation bacchus-2017 belongs to syd"


def test_an_agency_outside_the_operation_gets_nothing(policy):
    d = policy.decide(vehicle_control(), "kustbevakningen", AT)
    assert (d.allow, d.rule) == (False, "deny.not-participant")
    assert d.reason == "kustbevakningen neither takes part in operation bacchus-2017 nor holds a co-option grant for it"


def test_a_sender_outside_the_operation_routes_nothing(policy):
    [(_, d)] = policy.route(vehicle_control(origin="kustbevakningen"), AT)
    assert (d.rule, d.reason) == (
        "deny.sender-not-participant",
        "kustbevakningen does not take part in operation bacchus-2017",
    )


def test_transportstyrelsen_gets_overload_reports_under_its_grant_marked_no_onward_sharing(policy):
    d = policy.decide(overload_report(), "transportstyrelsen", _dt.datetime(2017, 3, 3, tzinfo=UTC))
    assert (d.allow, d.rule, d.legal_basis, d.no_onward_sharing) == (
        True,
        "cooption.bacchus-2017-transportstyrelsen",
        "OSL 2009:400 10 kap. 27 §",
        True,
    )
    delivered = policy.deliverable(overload_report(), d)
    assert delivered.handling.no_onward_sharing and delivered.legal_basis == "OSL 2009:400 10 kap. 27 §"


def test_a_co_opted_agency_stops_receiving_when_its_grant_expires(policy):
    d = policy.decide(overload_report(), "transportstyrelsen", _dt.datetime(2017, 7, 1, tzinfo=UTC))
    assert (d.allow, d.rule) == (False, "deny.cooption-expired")
    assert d.reason == (
        "transportstyrelsen's co-option grant bacchus-2017-transportstyrelsen for operation bacchus-2017 "
        "ended at 2017-07-01T00:00:00+02:00"
    )


def test_a_co_option_grant_that_has_not_started_is_not_yet_valid_rather_than_expired(policy):
    d = policy.decide(overload_report(), "transportstyrelsen", _dt.datetime(2017, 1, 8, 22, 30, tzinfo=UTC))
    assert (d.allow, d.rule) == (False, "deny.cooption-not-started")
    assert d.reason == (
        "transportstyrelsen's co-option grant bacchus-2017-transportstyrelsen for operation bacchus-2017 "
        "starts at 2017-01-09T00:00:00+01:00"
    )


def test_a_co_opted_agency_never_receives_a_handling_restricted_record(policy):
    env = overload_report(handling=Handling(named_recipients=("transportstyrelsen", "skatteverket")))
    d = policy.decide(env, "transportstyrelsen", _dt.datetime(2017, 3, 3, tzinfo=UTC))
    assert (d.allow, d.rule) == (False, "deny.cooption-restricted")
    assert policy.decide(env, "skatteverket", AT).allow


def test_a_record_for_named_recipients_only_never_reaches_anyone_else(policy):
    env = vehicle_control(handling=Handling(named_recipients=("tullverket",)))
    decisions = dict(policy.route(env, AT))
    assert [r for r, d in decisions.items() if d.allow] == ["tullverket"]
    assert (
        decisions["skatteverket"].reason
        == "the originator restricted the record to tullverket; skatteverket is not named"
    )


def test_a_named_recipient_outside_the_operation_gets_a_decision_of_its_own_a_denial(policy):
    env = vehicle_control(handling=Handling(named_recipients=("tullverket", "kustbevakningen")))
    decisions = dict(policy.route(env, AT))
    assert decisions["kustbevakningen"].rule == "deny.not-participant"


def test_the_originators_no_onward_sharing_mark_stays_on_every_delivery(policy):
    env = vehicle_control(handling=Handling(no_onward_sharing=True))
    d = policy.decide(env, "tullverket", AT)
    assert d.allow and d.no_onward_sharing
    assert policy.deliverable(env, d).handling.no_onward_sharing


def test_foreign_origin_material_goes_to_core_agencies_only(policy):
    env = overload_report(handling=Handling(foreign_origin=True))
    assert policy.decide(env, "skatteverket", AT).allow
    d = policy.decide(env, "transportstyrelsen", _dt.datetime(2017, 3, 3, tzinfo=UTC))
    assert (d.allow, d.rule) == (False, "deny.foreign-origin")


def test_a_record_held_for_the_originators_balancing_test_is_decided_as_any_other_and_never_co_opted(policy):
    """The policy decides what the record would disclose (the router holds that for the officer:
    tests/router/test_review_queue.py); a co-opted agency never gets a handling-restricted record."""
    env = vehicle_control(handling=Handling(review_required=True))
    assert policy.decide(env, "tullverket", AT) == policy.decide(vehicle_control(), "tullverket", AT)
    report = overload_report(handling=Handling(review_required=True))
    d = policy.decide(report, "transportstyrelsen", _dt.datetime(2017, 3, 3, tzinfo=UTC))
    assert (d.allow, d.rule) == (False, "deny.cooption-restricted")


def test_lus_covers_csn_only_from_2022_05_01(shipped_data):
    op = shipped_data.operations["mitt-valfard-2020"]
    data = msgspec.structs.replace(
        shipped_data,
        operations={**shipped_data.operations, "mitt-valfard-2020": msgspec.structs.replace(op, valid_to=None)},
    )
    policy = Policy.compile(data)
    from samband.schemas import Envelope, PersonRef, TaxReassessment, new_envelope_id, synthetic_personnummer

    person = PersonRef(pnr=synthetic_personnummer(random.Random(3)))
    env = Envelope(
        id=new_envelope_id(),
        origin="skatteverket",
        region="mitt",
        operation="mitt-valfard-2020",
        produced_at=AT,
        subjects=(person,),
        record=TaxReassessment(
            decision_id="SKV-1", decided_on=_dt.date(2020, 5, 1), taxpayer=person, tax_year=2019, increase_ore=10_000_00
        ),
    )
    before = policy.decide(env, "csn", _dt.datetime(2022, 4, 30, 21, 59, tzinfo=UTC))  # 23:59 in Stockholm
    after = policy.decide(env, "csn", _dt.datetime(2022, 4, 30, 22, 0, tzinfo=UTC))  # Swedish midnight
    assert (before.allow, before.rule) == (False, "deny.no-legal-basis")
    assert before.reason == "LUS 2016:774 does not cover both skatteverket and csn on 2022-04-30 (Swedish time)"
    assert (after.allow, after.rule) == (True, "mitt-valfard-2020/reassessment.study-aid")


def test_field_minimisation_drops_the_fields_and_the_subjects_a_purpose_does_not_need(shipped_data):
    data = msgspec.structs.replace(
        shipped_data,
        need_to_know={
            **shipped_data.need_to_know,
            "police.vehicle_control": {
                **shipped_data.need_to_know["police.vehicle_control"],
                "benefit_control": Need(recipients=("forsakringskassan",), fields=VC_WITH_DRIVER[:5], id="no-driver"),
            },
        },
    )
    policy = Policy.compile(data)
    env = vehicle_control()
    d = policy.decide(env, "forsakringskassan", AT)
    out = policy.deliverable(env, d)
    assert (out.record.driver, out.record.passengers, out.record.remark) == (None, 0, None)
    assert out.subjects == (env.record.vehicle,)  # the driver's personnummer does not ride along in subjects
    wire = msgspec.json.decode(msgspec.json.encode(out))
    assert sorted(wire["record"]) == ["control_id", "controlled_at", "location", "type", "vehicle", "vehicle_kind"]
    assert env.record.driver.pnr not in msgspec.json.encode(out).decode()


def test_a_straw_buyers_samordningsnummer_reaches_migrationsverket_and_no_recipient_whose_purpose_leaves_it_out(
    shipped_data,
):
    data = msgspec.structs.replace(
        shipped_data,
        need_to_know={
            **shipped_data.need_to_know,
            "police.vehicle_control": {
                **shipped_data.need_to_know["police.vehicle_control"],
                "benefit_control": Need(recipients=("forsakringskassan",), fields=VC_WITH_DRIVER, id="no-passengers"),
            },
        },
    )
    policy = Policy.compile(data)
    env = vehicle_control(straw_buyers=2)
    buyers = [p.person for p in env.record.identified_passengers]
    to_migrationsverket = policy.deliverable(env, policy.decide(env, "migrationsverket", AT))
    assert [p.role for p in to_migrationsverket.record.identified_passengers] == ["straw_buyer", "straw_buyer"]
    assert [s for s in to_migrationsverket.subjects if s in buyers] == buyers
    to_forsakringskassan = policy.deliverable(env, policy.decide(env, "forsakringskassan", AT))
    assert to_forsakringskassan.record.identified_passengers == ()
    assert to_forsakringskassan.subjects == (env.record.vehicle, env.record.driver)  # the buyers do not ride along
    wire = msgspec.json.encode(to_forsakringskassan).decode()
    assert not any(b.pnr in wire for b in buyers)


def test_the_policy_version_is_a_hash_of_the_policy_and_changes_with_it(shipped_data, policy):
    assert Policy.compile(load_policy_dir(SHIPPED)).version == policy.version
    changed = msgspec.structs.replace(
        shipped_data,
        legal_bases={
            **shipped_data.legal_bases,
            "X 1:1": LegalBasis(
                title="x", coverage=(Coverage(agencies=("polisen",), valid_from=_dt.date(2020, 1, 1)),)
            ),
        },
    )
    assert Policy.compile(changed).version != policy.version


@pytest.mark.parametrize(
    "file,old,new,message",
    [
        (
            "agencies.toml",
            'name = "Transportstyrelsen"\ntier = "network"',
            'name = "Transportstyrelsen"\ntier = "nätverk"',
            "agencies.toml: Invalid enum value 'nätverk' - at `$.agencies.transportstyrelsen.tier` (value 'nätverk')",
        ),
        (
            "operations.toml",
            "valid_from = 2016-11-01",
            'valid_from = "autumn 2016"',
            "operations.toml: Invalid RFC3339 encoded date - at `$.operations.bacchus-2017.valid_from` (value 'autumn 2016')",
        ),
        (
            "operations.toml",
            '"polisen", "tullverket", "skatteverket"',
            '"polisen", "tullverk", "skatteverket"',
            "operations.toml: Expected an agency slug from agencies.toml, got `tullverk` - at `$.operations.bacchus-2017.participants[1]`",
        ),
        (
            "need_to_know.toml",
            'fields = ["control_id", "controlled_at", "location", "vehicle", "vehicle_kind", "driver", "identified_passengers"]\n\n[need_to_know."police.vehicle_control".enforcement]',
            'fields = ["control_id", "controlled_at", "location", "vehicle", "vehicle_kind", "driver", "shoe_size"]\n\n[need_to_know."police.vehicle_control".enforcement]',
            "need_to_know.toml: Expected a field of police.vehicle_control, got `shoe_size` - at `$.need_to_know.police.vehicle_control.benefit_control.fields[6]`",
        ),
        (
            "cooptions.toml",
            'fields = ["report_id", "weighed_at", "location", "vehicle", "operator", "measured_kg", "permitted_kg"]',
            'fields = ["report_id", "weighed_at", "location", "vehicle", "operator", "measured_kg"]',
            "cooptions.toml: Expected every required field of police.overload_report (missing permitted_kg), got "
            "`['report_id', 'weighed_at', 'location', 'vehicle', 'operator', 'measured_kg']` - at `$.grants.bacchus-2017-transportstyrelsen.fields`",
        ),
        (
            "cooptions.toml",
            "valid_from = 2017-01-09T00:00:00+01:00",
            "valid_from = 2017-01-09T00:00:00",
            "cooptions.toml: Expected `datetime` with a timezone component - at `$.grants.bacchus-2017-transportstyrelsen.valid_from` (value 2017-01-09T00:00:00)",
        ),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_file_the_key_and_the_value(tmp_path, file, old, new, message):
    shutil.copytree(SHIPPED, tmp_path / "policy")
    path = tmp_path / "policy" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(PolicyError) as exc:
        load_policy_dir(tmp_path / "policy")
    assert str(exc.value) == message


def test_the_walking_skeleton_policy_still_sends_vehicle_controls_to_skatteverket():
    p = skeleton_policy()
    d = p.decide(vehicle_control(), "skatteverket", AT)
    assert (d.allow, d.rule, d.fields) == (
        True,
        "bacchus-2017/skeleton.vehicle-control.skatteverket",
        tuple(f for f in ALL_VC if f != "identified_passengers") + ("identified_passengers",),
    )
