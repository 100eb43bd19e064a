"""Standing originator restrictions (restrictions.toml): an originator's rule for every record it sends of a
type, added to the marks each record carries; they only narrow (named lists intersect, flags switch on)."""

from __future__ import annotations

import datetime as _dt

import msgspec
import pytest

from samband.router import Policy, Restriction
from samband.schemas import Handling

from .._support import AT, UTC, overload_report, vehicle_control

BACCHUS_2017 = _dt.datetime(2017, 3, 3, tzinfo=UTC)


def _with(shipped_data, **restrictions: Restriction) -> Policy:
    return Policy(msgspec.structs.replace(shipped_data, restrictions={**shipped_data.restrictions, **restrictions}))


def _named(*recipients: str, record_type: str = "police.vehicle_control") -> Restriction:
    return Restriction(
        origin="polisen",
        record_types=(record_type,),
        named_recipients=recipients,
        reason="Polisen's controls at the ferry terminal go to customs and tax only.",
    )


def test_a_standing_restriction_to_named_recipients_lets_only_them_receive_a_record_that_names_no_one(shipped_data):
    policy = _with(shipped_data, **{"polisen-named": _named("tullverket", "skatteverket")})
    decisions = dict(policy.route(vehicle_control(), AT))
    assert sorted(r for r, d in decisions.items() if d.allow) == ["skatteverket", "tullverket"]
    denied = decisions["kronofogden"]
    assert (denied.allow, denied.rule) == (False, "deny.named-recipients-only")
    assert denied.reason == "the originator restricted the record to skatteverket, tullverket; kronofogden is not named"
    # the records of other senders and of other types are untouched
    assert policy.decide(vehicle_control(origin="tullverket"), "kronofogden", AT).allow
    assert policy.decide(overload_report(), "skatteverket", AT).allow


def test_a_record_s_own_named_recipients_are_narrowed_by_the_standing_ones_never_widened(shipped_data):
    policy = _with(shipped_data, **{"polisen-named": _named("tullverket", "skatteverket")})
    env = vehicle_control(handling=Handling(named_recipients=("tullverket", "kronofogden")))
    decisions = dict(policy.route(env, AT))
    assert [r for r, d in decisions.items() if d.allow] == ["tullverket"]
    assert decisions["kronofogden"].reason == (
        "the originator restricted the record to tullverket; kronofogden is not named"
    )


def test_two_standing_restrictions_on_the_same_records_leave_only_the_recipients_both_name(shipped_data):
    policy = _with(
        shipped_data,
        **{
            "polisen-customs-tax": _named("tullverket", "skatteverket"),
            "polisen-tax-enforcement": _named("skatteverket", "kronofogden"),
        },
    )
    decisions = dict(policy.route(vehicle_control(), AT))
    assert [r for r, d in decisions.items() if d.allow] == ["skatteverket"]


def test_a_co_opted_agency_named_by_a_standing_restriction_still_gets_nothing(shipped_data):
    policy = _with(
        shipped_data,
        **{"polisen-named": _named("transportstyrelsen", "skatteverket", record_type="police.overload_report")},
    )
    co_opted = policy.decide(overload_report(), "transportstyrelsen", BACCHUS_2017)
    assert (co_opted.allow, co_opted.rule) == (False, "deny.cooption-restricted")
    assert policy.decide(overload_report(), "skatteverket", BACCHUS_2017).allow


@pytest.mark.parametrize("record_types", [("*",), ("police.vehicle_control",)])
def test_a_standing_restriction_naming_no_one_stops_every_delivery_of_those_records(shipped_data, record_types):
    policy = _with(
        shipped_data,
        **{
            "polisen-closed": Restriction(
                origin="polisen", record_types=record_types, named_recipients=(), reason="held by the originator"
            )
        },
    )
    decisions = dict(policy.route(vehicle_control(), AT))
    assert decisions and not any(d.allow for d in decisions.values())
    assert decisions["tullverket"].reason == "the originator restricted the record to no one; tullverket is not named"
