"""The follow-up's rules as a security chief reads them: explain agrees with the decision, bad input is bounded."""

from __future__ import annotations

import datetime as _dt

import msgspec

from samband.router._explain import explain
from samband.schemas import Envelope, Handling, Outcome

AT = _dt.datetime(2018, 1, 20, 9, 0, tzinfo=_dt.UTC)


def outcome(**record) -> Envelope:
    fields = dict(
        agency="skatteverket",
        region="vast",
        category="tax_reassessment",
        amount_ore=42_000_00,
        period_from=_dt.date(2017, 11, 1),
        period_to=_dt.date(2017, 11, 30),
    )
    return Envelope(
        id="follow-up-1",
        record=Outcome(**(fields | record)),
        origin="skatteverket",
        region="vast",
        operation="vast-arbetsplatser-2017",  # closed, ended 2017-12-31
        produced_at=AT,
    )


def test_explain_follows_an_outcome_of_a_closed_operation_to_the_follow_up_without_contradicting_itself(policy):
    ex = explain(policy, outcome(), "ruc_vast", AT)
    assert ex.decision.allow and ex.decision.rule == "vast-arbetsplatser-2017/outcome.follow-up"
    lines = ex.lines()
    assert not any(line.startswith("✗") for line in lines), lines
    assert (
        "✓ Its outcomes reach the follow-up while it is in force from 2017-02-01 to 2017-12-31 (Swedish calendar "
        "days) and up to 400 days after it ends, closed or not."
    ) in lines


def test_explain_names_the_claim_that_made_an_outcome_refused(policy):
    ex = explain(policy, outcome(agency="kronofogden"), "ruc_vast", AT)
    assert ex.lines()[-2] == (
        "✗ The outcome itself is refused: Expected `agency` to be `skatteverket` (the publishing account), "
        "got `kronofogden` - at `$.record.agency`."
    )


def test_an_outcome_the_originator_restricted_reaches_only_whom_it_names(policy):
    env = msgspec.structs.replace(outcome(), handling=Handling(named_recipients=("uppfoljning",)))
    decisions = dict(policy.route(env, AT))
    assert decisions["uppfoljning"].allow and not decisions["ruc_vast"].allow
    assert decisions["ruc_vast"].rule == "deny.named-recipients-only"


def test_a_megabyte_of_category_is_quoted_forty_characters_long(policy):
    ((recipient, decision),) = policy.route(outcome(category="x" * 1_000_000), AT)
    assert (recipient, decision.rule) == ("-", "deny.outcome-category")
    assert decision.reason.endswith("got `" + "x" * 40 + "…` - at `$.record.category`")


def test_an_outcome_in_an_unknown_operation_is_refused_like_any_record(policy):
    env = msgspec.structs.replace(outcome(), operation="vast-2099")
    ((recipient, decision),) = policy.route(env, AT)
    assert (recipient, decision.rule) == ("-", "deny.unknown-operation")
