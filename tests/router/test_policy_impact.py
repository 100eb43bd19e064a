"""`samband policy impact`: a council sees what a proposed decision would have disclosed over the
trail's window, decided again from the audit entries alone, before it publishes anything."""

from __future__ import annotations

import asyncio
import json
import shutil

import msgspec
import pytest

from samband.router import load_private_key, sign_decision
from samband.router._proposal import write_decision_file
from samband.schemas import encode

from .._support import SHIPPED, audit_entries, live_router, wait_for
from .test_citations import FIELDS, grant_kustbevakningen, polisen_publishes, samband
from .test_refused_decisions import grant


@pytest.fixture
async def routed(fresh_deployment, tmp_path):
    """A deployment whose router has routed polisen's records in Operation Bacchus, and stopped."""
    dep = fresh_deployment
    _live, platform, router = await live_router(dep, tmp_path)
    try:
        await polisen_publishes(dep, 6, seed=51)
        await wait_for(lambda: router.stats.audited >= 6 * 8)  # 8 recipients a record in Bacchus
    finally:
        await platform.stop()
    return dep


def impact(dep, *args: str):
    return samband(dep.state_dir, "policy", "impact", *args)


async def test_co_opting_an_agency_in_a_proposal_shows_exactly_the_disclosures_it_adds(routed, tmp_path):
    dep = routed
    proposal = tmp_path / "bacchus-kbv.json"
    out = await asyncio.to_thread(grant_kustbevakningen, dep.state_dir, "--dry-run", "--out", str(proposal))
    assert out.exit_code == 0 and "dry run: nothing published" in out.output, out.output
    trail = await audit_entries(dep)
    # what the grant would have given: every vehicle control of the window the originator did not restrict
    expected = {
        r.envelope_id
        for r in trail
        if r.record_type == "police.vehicle_control"
        and r.handling.named_recipients is None
        and not (r.handling.no_onward_sharing or r.handling.foreign_origin or r.handling.review_required)
    }
    assert expected  # the sample has some
    shown = await asyncio.to_thread(impact, dep, str(proposal), "--json")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["records"] == len({r.envelope_id for r in trail}) and report["entries"] == len(trail)
    assert report["disclosures"] == [
        {
            "recipient": "kustbevakningen",
            "record_type": "police.vehicle_control",
            "what": "added",
            "records": len(expected),
            "fields_before": [],
            "fields_after": FIELDS.split(","),
            "rules": ["cooption.bacchus-kbv"],
        }
    ]
    text = await asyncio.to_thread(impact, dep, str(proposal))
    assert f"+ kustbevakningen: adds {len(expected)} police.vehicle_control record" in text.output
    # nothing was published: the proposal changed nothing
    listed = await asyncio.to_thread(samband, dep.state_dir, "decision", "list", "--json")
    assert "bacchus-kbv" not in listed.output


async def test_a_policy_directory_as_proposal_replays_the_same_trail(routed, tmp_path):
    dep = routed
    same = tmp_path / "policy"
    shutil.copytree(SHIPPED, same)
    out = await asyncio.to_thread(impact, dep, str(same))
    assert out.exit_code == 0 and out.output.rstrip().endswith("no disclosure would change"), out.output
    (same / "operations.toml").write_text("[operations.x]\nscope = 12\n")
    out = await asyncio.to_thread(impact, dep, str(same))
    assert out.exit_code == 1 and "the proposed policy is refused: operations.toml: " in out.output, out.output


async def test_a_malformed_unsigned_or_out_of_scope_proposal_is_refused_with_the_file_key_and_value(routed, tmp_path):
    dep = routed
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"format": "samband-decision/1", "council": 3, "body": "{}"}')
    out = await asyncio.to_thread(impact, dep, str(malformed))
    assert out.exit_code == 1
    assert out.output.strip() == (
        f"Error: {malformed}: the router would refuse this decision: {malformed}: "
        "Expected `str`, got `int` - at `$.council`"
    )
    body = encode(grant())
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(
        msgspec.json.encode({"format": "samband-decision/1", "council": "rsr-syd", "body": body.decode()}).decode()
    )
    out = await asyncio.to_thread(impact, dep, str(unsigned))
    assert out.exit_code == 1 and out.output.strip() == (
        f"Error: {unsigned}: the router would refuse this decision: "
        "Expected a `Samband-Signature` header with rsr-syd's signature, got none"
    )
    # RSR Mitt signs a grant in Syd's operation
    body = encode(grant(region="mitt"))
    foreign = tmp_path / "mitt.json"
    write_decision_file(
        foreign, body, sign_decision(load_private_key(dep.state_dir / "councils", "rsr-mitt"), "rsr-mitt", body)
    )
    out = await asyncio.to_thread(impact, dep, str(foreign))
    assert out.exit_code == 1 and out.output.strip() == (
        f"Error: {foreign}: the router would refuse this decision: Expected a decision within rsr-mitt's scope "
        "(mitt), got a grant in operation bacchus-2017 of `syd` - at `$.record.operation`"
    )


async def test_an_empty_window_says_so(routed, tmp_path):
    dep = routed
    proposal = tmp_path / "p.json"
    assert (
        await asyncio.to_thread(grant_kustbevakningen, dep.state_dir, "--dry-run", "--out", str(proposal))
    ).exit_code == 0
    out = await asyncio.to_thread(impact, dep, str(proposal), "--since", "2001-01-01", "--until", "2001-01-31")
    assert out.exit_code == 0
    assert (
        out.output.strip()
        == "no audited decisions from 2001-01-01T00:00:00+00:00 to 2001-01-31T00:00:00+00:00: nothing to replay"
    )
    out = await asyncio.to_thread(impact, dep, str(proposal), "--since", "2001-02-01", "--until", "2001-01-31")
    assert out.exit_code == 2 and "Expected --since before --until" in out.output


async def test_revoking_a_grant_in_a_proposal_shows_the_disclosures_it_stops(fresh_deployment, tmp_path):
    dep = fresh_deployment
    live, platform, router = await live_router(dep, tmp_path)
    sink = await platform.start_sink("kustbevakningen")
    try:
        assert (await asyncio.to_thread(grant_kustbevakningen, dep.state_dir)).exit_code == 0
        await wait_for(lambda: "bacchus-kbv" in live.grants)
        await polisen_publishes(dep, 4, seed=52)
        await wait_for(lambda: router.stats.audited >= 4 * 9)  # 8 recipients in Bacchus and the co-opted one
        trail = await audit_entries(dep)
        delivered = sum(1 for r in trail if r.recipient == "kustbevakningen" and r.decision == "allow")
        assert delivered > 0
        await wait_for(lambda: len(sink) >= delivered)
    finally:
        await platform.stop()
    proposal = tmp_path / "revoke.json"
    out = await asyncio.to_thread(
        samband, dep.state_dir, "decision", "revoke", "bacchus-kbv", "--council", "rsr-syd", "--dry-run", "--out",
        str(proposal),
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    shown = await asyncio.to_thread(impact, dep, str(proposal))
    assert shown.exit_code == 0, shown.output
    assert f"- kustbevakningen: stops {delivered} police.vehicle_control record" in shown.output
