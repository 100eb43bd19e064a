"""The originator's balancing test (LUS 2 § second paragraph) on a running router: Polisen reviews its
overload reports before any disclosure. The router holds each (record, recipient) the policy would
disclose in the REVIEW bucket, audits the hold, and routes everything else on; Polisen's officer
(`reviewer-polisen`, broker-scoped) releases or withholds; a hold nobody decides on lapses."""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import json
import random

import msgspec
import nats
import pytest

from samband._platform import Platform
from samband.observability.audit import AuditRecord
from samband.router import Policy, ReviewReply, ReviewRequest, ReviewRule
from samband.schemas import Envelope, Handling, encode
from samband.schemas.layout import review_request_subject, reviewer_identity

from .._support import (
    SHIPPED,
    audit_entries,
    audited,
    inbox_envelopes,
    overload_report,
    samband_cli,
    send_as,
    vehicle_control,
    wait_for,
)

REPORT = "police.overload_report"
RECIPIENTS = ("ekobrottsmyndigheten", "kronofogden", "skatteverket")  # the policy allows all three
RELEASED = ("kronofogden", "skatteverket")
DECIDED = 8  # every candidate of a Bacchus record gets an audited decision, the five denials included
POLISEN_REVIEWS = {"polisen": ReviewRule(record_types=frozenset({REPORT}))}


async def _platform(dep, tmp_path, review=POLISEN_REVIEWS, **kw) -> Platform:
    await dep.provision()
    platform = Platform(dep, Policy.load(SHIPPED), tmp_path / "received")
    await platform.start_router(review=review, **kw)
    return platform


async def _ask(dep, agency: str, verb: str, *, as_agency: str | None = None, timeout: float = 10, **req) -> ReviewReply:
    """A request on review.<agency>.<verb> with reviewer-<as_agency>'s credentials."""
    nc = await dep.connect(reviewer_identity(as_agency or agency))
    try:
        msg = await nc.request(
            review_request_subject(agency, verb), msgspec.json.encode(ReviewRequest(**req)), timeout=timeout
        )
    finally:
        await nc.close()
    return msgspec.json.decode(msg.data, type=ReviewReply)


async def _held(dep, env: Envelope) -> Envelope:
    """Polisen sends ``env``; it returns once the router has decided on it for every recipient (held)."""
    await send_as(dep, "polisen", env)
    await audited(dep, env.id, count=DECIDED)
    return env


async def _cli(dep, *args: str):
    return await asyncio.to_thread(samband_cli, dep, "review", *args)


def _rules(entries: list[AuditRecord]) -> set[tuple[str, str, str]]:
    return {(e.recipient, e.decision, e.rule) for e in entries}


async def _received(dep, agency: str, envelope_id: str) -> list:
    return [e for e in await inbox_envelopes(dep, agency, REPORT) if e.id == envelope_id]


async def test_a_held_record_reaches_the_two_recipients_its_originator_released_it_to_and_no_one_else(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    platform = await _platform(dep, tmp_path)
    try:
        held, control = overload_report(random.Random(7)), vehicle_control(random.Random(8))
        await send_as(dep, "polisen", held)
        await send_as(dep, "polisen", control)
        holds = [e for e in await audited(dep, held.id, count=DECIDED) if e.decision == "deny"]
        assert {r for r in _rules(holds) if r[2] == "hold.review"} == {(r, "deny", "hold.review") for r in RECIPIENTS}
        assert all("polisen reviews every police.overload_report" in e.reason for e in holds if e.rule == "hold.review")
        # everyone else's deliveries go on: the vehicle control reaches Tullverket while the report waits
        await wait_for(lambda: platform.router.stats.delivered.get("tullverket", 0) >= 1, what="the control")
        assert not await _received(dep, "skatteverket", held.id)

        listed = await _cli(dep, "list", "--agency", "polisen", "--json")
        assert listed.exit_code == 0, listed.output
        assert {(h["envelope_id"], h["recipient"], h["state"]) for h in json.loads(listed.output)["holds"]} == {
            (held.id, r, "held") for r in RECIPIENTS
        }
        shown = await _cli(dep, "show", "--agency", "polisen", held.id, "--to", "skatteverket")
        assert shown.exit_code == 0, shown.output
        assert "record: {" in shown.output and "-> skatteverket" in shown.output

        to = [a for r in RELEASED for a in ("--to", r)]
        released = await _cli(dep, "release", "--agency", "polisen", held.id, *to)
        assert released.exit_code == 0, released.output
        assert released.output.strip() == "released to kronofogden, skatteverket"
        withheld = await _cli(
            dep, "withhold", "--agency", "polisen", held.id, "--reason", "a prosecutor's secrecy (OSL 18:1)"
        )
        assert withheld.exit_code == 0 and withheld.output.strip() == "withheld from ekobrottsmyndigheten"

        for r in RELEASED:
            await wait_for(lambda r=r: platform.router.stats.delivered.get(r, 0) >= 1, what=f"the release to {r}")
        entries = await audited(dep, held.id, count=DECIDED + len(RECIPIENTS))
    finally:
        await platform.stop()
    outcomes = [e for e in entries if e.rule.startswith("review.")]
    assert _rules(outcomes) == {
        ("kronofogden", "allow", "review.released"),
        ("skatteverket", "allow", "review.released"),
        ("ekobrottsmyndigheten", "deny", "review.withheld"),
    }
    assert {e.officer for e in outcomes} == {"reviewer-polisen"}
    assert "a prosecutor's secrecy (OSL 18:1)" in next(e.reason for e in outcomes if e.rule == "review.withheld")
    for r in RELEASED:
        (copy,) = await _received(dep, r, held.id)
        entry = next(e for e in outcomes if e.recipient == r)
        # minimised as for any delivery: the copy is exactly what the release's audit entry names
        assert hashlib.sha256(encode(copy)).hexdigest() == entry.delivered_sha256
        assert set(msgspec.structs.asdict(copy.record)) >= set(entry.fields)
    assert not await _received(dep, "ekobrottsmyndigheten", held.id)
    for other in ("tullverket", "arbetsformedlingen", "migrationsverket", "forsakringskassan"):
        assert not await _received(dep, other, held.id)


async def test_an_unreviewed_hold_lapses_to_withheld_and_is_audited_and_cannot_then_be_released(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    rules = {"polisen": ReviewRule(record_types=frozenset({REPORT}), lapse=_dt.timedelta(seconds=1))}
    platform = await _platform(dep, tmp_path, review=rules, review_every=0.2)
    try:
        held = overload_report(random.Random(9))
        await send_as(dep, "polisen", held)
        entries = await audited(dep, held.id, count=DECIDED + len(RECIPIENTS))
        late = await _ask(dep, "polisen", "release", envelope_id=held.id, recipients=("skatteverket",))
        cli = await _cli(dep, "release", "--agency", "polisen", held.id)
    finally:
        await platform.stop()
    lapsed = [e for e in entries if e.rule == "review.lapsed"]
    assert _rules(lapsed) == {(r, "deny", "review.lapsed") for r in RECIPIENTS}
    assert all(e.officer is None and "within" in (e.reason or "") for e in lapsed)
    assert late.changed == [] and late.error is not None
    assert late.error.startswith("Expected a record held for review to release, got one lapsed at ")
    assert late.error.endswith(f" - at `{held.id}` -> skatteverket")
    assert cli.exit_code == 1 and "got one lapsed at" in cli.output
    assert len(await audit_entries(dep, held.id)) == len(entries)  # the refused release is not an outcome
    assert not await _received(dep, "skatteverket", held.id)


async def test_a_held_record_survives_a_router_restart_and_is_released_after_it(fresh_deployment, tmp_path):
    dep = fresh_deployment
    held = overload_report(random.Random(10), handling=Handling(review_required=True))  # the record asks itself
    platform = await _platform(dep, tmp_path, review={})
    try:
        await _held(dep, held)
    finally:
        await platform.stop()
    platform = await _platform(dep, tmp_path, review={})
    try:
        listed = await _ask(dep, "polisen", "list")
        assert {(h.envelope_id, h.recipient) for h in listed.holds} == {(held.id, r) for r in RECIPIENTS}
        reply = await _ask(dep, "polisen", "release", envelope_id=held.id)
        assert sorted(reply.changed) == list(RECIPIENTS)
        await wait_for(lambda: platform.router.stats.delivered.get("kronofogden", 0) >= 1, what="the release")
    finally:
        await platform.stop()
    assert len(await _received(dep, "kronofogden", held.id)) == 1


async def test_another_agencys_reviewer_cannot_list_show_or_release_polisens_holds(fresh_deployment, tmp_path):
    dep = fresh_deployment
    platform = await _platform(dep, tmp_path)
    try:
        held = await _held(dep, overload_report(random.Random(11)))
        own = await _ask(dep, "tullverket", "list")  # its own agency's: nothing
        release = await _ask(dep, "tullverket", "release", envelope_id=held.id)
        show = await _ask(dep, "tullverket", "show", envelope_id=held.id)
        with pytest.raises(nats.errors.TimeoutError):  # the broker refuses the publish: no answer ever comes
            await _ask(dep, "polisen", "release", as_agency="tullverket", timeout=2, envelope_id=held.id)
        cli = await _cli(dep, "release", "--agency", "tullverket", held.id)
        still = await _ask(dep, "polisen", "list")
    finally:
        await platform.stop()
    assert own.holds == [] and own.error is None
    expected = f"Expected a record of tullverket held for review, got no hold for `{held.id}` - at `envelope_id`"
    assert release.error == show.error == expected
    assert cli.exit_code == 1 and expected in cli.output
    assert {h.state for h in still.holds} == {"held"} and len(still.holds) == len(RECIPIENTS)
    assert not [e for e in await audit_entries(dep, held.id) if e.rule.startswith("review.")]


async def test_a_release_twice_is_a_no_op_and_a_withholding_needs_a_reason(fresh_deployment, tmp_path):
    dep = fresh_deployment
    platform = await _platform(dep, tmp_path)
    try:
        held = await _held(dep, overload_report(random.Random(12)))
        no_reason = await _ask(dep, "polisen", "withhold", envelope_id=held.id, reason="  ")
        cli = await _cli(dep, "withhold", "--agency", "polisen", held.id)
        first = await _ask(dep, "polisen", "release", envelope_id=held.id, recipients=("skatteverket",))
        await wait_for(lambda: platform.router.stats.delivered.get("skatteverket", 0) >= 1, what="the release")
        second = await _ask(dep, "polisen", "release", envelope_id=held.id, recipients=("skatteverket",))
        again = await _cli(dep, "release", "--agency", "polisen", held.id, "--to", "skatteverket", "--json")
        withhold_released = await _ask(
            dep, "polisen", "withhold", envelope_id=held.id, recipients=("skatteverket",), reason="changed my mind"
        )
    finally:
        await platform.stop()
    text = "Expected a reason for withholding (what the balancing test found), got none - at `reason`"
    assert no_reason.error == text
    assert cli.exit_code == 2 and text in cli.output
    assert first.changed == ["skatteverket"]
    assert second.changed == [] and second.error is None
    assert second.unchanged[0].startswith("skatteverket: released by reviewer-polisen at ")
    assert again.exit_code == 0 and json.loads(again.output)["changed"] == []
    assert withhold_released.error is not None and "got one released by reviewer-polisen" in withhold_released.error
    entries = await audit_entries(dep, held.id)
    assert [e.recipient for e in entries if e.rule.startswith("review.")] == ["skatteverket"]  # audited once
    assert len(await _received(dep, "skatteverket", held.id)) == 1


async def test_a_flood_of_held_records_does_not_stop_routing(fresh_deployment, tmp_path):
    dep = fresh_deployment
    cap = 6  # holds Polisen may have waiting: two records' worth
    platform = await _platform(dep, tmp_path, review_cap=cap)
    try:
        rng = random.Random(13)
        reports = [overload_report(rng) for _ in range(12)]
        controls = [vehicle_control(rng) for _ in range(5)]
        for env in [x for pair in zip(reports, controls + [None] * 7, strict=True) for x in pair if x is not None]:
            await send_as(dep, "polisen", env)
        for env in [*controls, *reports]:
            await audited(dep, env.id, count=DECIDED)
        await wait_for(lambda: platform.router.stats.delivered.get("tullverket", 0) >= len(controls), what="controls")
        listed = await _ask(dep, "polisen", "list")
    finally:
        await platform.stop()
    trail = await audit_entries(dep)
    rules = [e.rule for e in trail if e.envelope_id in {r.id for r in reports}]
    assert rules.count("hold.review") == cap and len(listed.holds) == cap
    assert rules.count("deny.review-unavailable") == len(reports) * len(RECIPIENTS) - cap  # fail closed, audited
    reason = next(e.reason for e in trail if e.rule == "deny.review-unavailable")
    assert reason == f"not held: polisen has {cap} holds waiting for its officer; no more are taken"
    assert len(await inbox_envelopes(dep, "tullverket", "police.vehicle_control")) == len(controls)
