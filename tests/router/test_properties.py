"""Property tests (hypothesis) for the rules that must hold whatever the policy and the record."""

from __future__ import annotations

import datetime as _dt

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samband.router import Policy
from samband.router._explain import explain
from samband.schemas import Handling
from samband.testing import SYNTHETIC_AT, synthetic_data, synthetic_envelopes

DATA = synthetic_data(operations=30, grants=40, seed=11)
POLICY = Policy(DATA)
ENVELOPES = synthetic_envelopes(POLICY, 300, seed=12)
AGENCIES = sorted(DATA.agencies) + ["okand_myndighet"]
UTC = _dt.UTC
EMPTY = Policy(msgspec.structs.replace(DATA, operations={}, grants={}))

envelopes = st.sampled_from(ENVELOPES)
recipients = st.sampled_from(AGENCIES)
times = st.one_of(
    st.just(SYNTHETIC_AT),
    st.datetimes(min_value=_dt.datetime(2015, 1, 1), max_value=_dt.datetime(2026, 12, 31), timezones=st.just(UTC)),
    # right around the grants' ends, where expiry bites
    st.builds(
        lambda g, s: g.valid_to + _dt.timedelta(seconds=s),
        st.sampled_from(list(DATA.grants.values())),
        st.integers(min_value=-2, max_value=2),
    ),
)
handlings = st.builds(
    Handling,
    named_recipients=st.one_of(st.none(), st.lists(st.sampled_from(AGENCIES), max_size=4, unique=True).map(tuple)),
    no_onward_sharing=st.booleans(),
    foreign_origin=st.booleans(),
    review_required=st.booleans(),
)
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _justifying_grants(env, recipient, at):
    return [
        g
        for g in DATA.grants.values()
        if g.agency == recipient
        and g.operation == env.operation
        and env.record_type in g.record_types
        and not g.revoked
        and g.valid_from <= at < g.valid_to
    ]


@FAST
@given(env=envelopes, recipient=recipients, at=times)
def test_by_default_everything_is_denied(env, recipient, at):
    assert not EMPTY.decide(env, recipient, at).allow
    assert all(not d.allow for _, d in EMPTY.route(env, at))


@FAST
@given(env=envelopes, recipient=recipients, at=times, handling=handlings)
def test_no_allow_carries_a_field_outside_the_matrix_or_the_grant(env, recipient, at, handling):
    env = msgspec.structs.replace(env, handling=handling)
    d = POLICY.decide(env, recipient, at)
    if not d.allow:
        return
    op = DATA.operations[env.operation]
    purpose = op.purposes.get(recipient)
    need = DATA.need_to_know.get(env.record_type, {}).get(purpose) if purpose else None
    allowed_sets = [set(need.fields)] if need and recipient in need.recipients else []
    allowed_sets += [set(g.fields) for g in _justifying_grants(env, recipient, at)]
    assert any(set(d.fields) <= s for s in allowed_sets), (d, allowed_sets)
    delivered = POLICY.deliverable(env, d)
    wire = msgspec.json.decode(msgspec.json.encode(delivered))
    assert set(wire["record"]) - {"type"} <= set(d.fields)
    kept_refs = msgspec.json.encode(wire["record"])
    for s in wire.get("subjects", []):
        assert msgspec.json.encode(s) in kept_refs  # no subject rides along without a field that names it


@FAST
@given(env=envelopes, recipient=recipients, at=times, handling=handlings)
def test_restricted_records_never_reach_an_unnamed_recipient_nor_a_co_opted_one(env, recipient, at, handling):
    env = msgspec.structs.replace(env, handling=handling)
    for r, d in POLICY.route(env, at) + [(recipient, POLICY.decide(env, recipient, at))]:
        if not d.allow:
            continue
        assert not handling.review_required
        if handling.named_recipients is not None:
            assert r in handling.named_recipients
        restricted = handling.named_recipients is not None or handling.no_onward_sharing or handling.foreign_origin
        if restricted:
            assert not d.rule.startswith("cooption.")
        if handling.foreign_origin:
            assert DATA.agencies[r].tier == "core"
        if handling.no_onward_sharing:
            assert d.no_onward_sharing and POLICY.deliverable(env, d).handling.no_onward_sharing


@FAST
@given(env=envelopes, recipient=recipients, at=times)
def test_an_expired_grant_never_allows(env, recipient, at):
    d = POLICY.decide(env, recipient, at)
    if d.allow and d.rule.startswith("cooption."):
        g = DATA.grants[d.rule.removeprefix("cooption.")]
        assert g.valid_from <= at < g.valid_to and g.agency == recipient and not g.revoked
        assert d.no_onward_sharing


@FAST
@given(env=envelopes, recipient=recipients, at=times, handling=handlings)
def test_the_sender_never_gets_its_record_and_decisions_are_deterministic(env, recipient, at, handling):
    env = msgspec.structs.replace(env, handling=handling)
    assert POLICY.decide(env, env.origin, at).rule == "deny.own-record"
    assert env.origin not in [r for r, _ in POLICY.route(env, at)]
    assert POLICY.decide(env, recipient, at) == POLICY.decide(env, recipient, at)
    ex = explain(POLICY, env, recipient, at)
    assert ex.decision == POLICY.decide(env, recipient, at)
    assert ex.steps[-1].ok is ex.decision.allow


def test_the_same_policy_data_always_compiles_to_the_same_version():
    assert Policy(synthetic_data(operations=30, grants=40, seed=11)).version == POLICY.version
