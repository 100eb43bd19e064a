"""Every allow cites its authority: the council decision (stream and sequence, council, day) or the
policy file (path and version) that made it possible, in the audit entry and in `audit query`."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random

import msgspec

from samband.adapters import publish_records
from samband.adapters._sources import NativeRecord
from samband.adapters.agencies import polisen
from samband.cli import cli
from samband.router import SWEDISH_TIME, Policy
from samband.testing import assert_no_personnummer

from .._support import SHIPPED, CommandRunner, audit_entries, live_router, wait_for

TODAY = _dt.datetime.now(SWEDISH_TIME).date()
FIELDS = "control_id,controlled_at,location,vehicle,vehicle_kind"


def samband(state, *args: str):
    return CommandRunner().invoke(
        cli, ["--state-dir", str(state), *args], env={"COLUMNS": "400"}, catch_exceptions=False
    )


def grant_kustbevakningen(state, *extra: str, fields: str = FIELDS):
    args = ["decision", "grant", "bacchus-kbv", "--council", "rsr-syd", "--agency", "kustbevakningen"]
    args += ["--operation", "bacchus-2017", "--record-type", "police.vehicle_control", "--field", fields]
    args += ["--from", str(TODAY), "--to", str(TODAY + _dt.timedelta(days=30)), "--reason", "crews on the buses"]
    return samband(state, *args, "--legal-basis", "LUS 2016:774", *extra)


async def polisen_publishes(dep, n: int, seed: int) -> None:
    native = polisen.sample(random.Random(seed), n)
    nc = await dep.connect("polisen")
    try:
        items = [NativeRecord(value=r, position=f"mem:{i}", raw=msgspec.json.encode(r)) for i, r in enumerate(native)]
        assert (await publish_records(nc, polisen, items)).published == n
    finally:
        await nc.close()


async def test_a_grant_made_with_samband_decision_is_cited_by_the_entries_of_the_deliveries_it_allowed(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    live, platform, _router = await live_router(dep, tmp_path)
    sink = await platform.start_sink("kustbevakningen")
    try:
        out = await asyncio.to_thread(grant_kustbevakningen, dep.state_dir)
        assert out.exit_code == 0 and "published as DECISIONS#1" in out.output, out.output
        await wait_for(lambda: "bacchus-kbv" in live.grants)
        await polisen_publishes(dep, 2, seed=31)
        await wait_for(lambda: len(sink) >= 2)
        # the council widens its grant later: the entries already written keep citing DECISIONS#1
        out = await asyncio.to_thread(grant_kustbevakningen, dep.state_dir, fields=FIELDS + ",passengers")
        assert out.exit_code == 0 and "published as DECISIONS#2" in out.output, out.output
        await wait_for(lambda: "passengers" in live.grants["bacchus-kbv"].fields)
        await polisen_publishes(dep, 1, seed=32)
        await wait_for(lambda: len(sink) >= 3)
        table = await asyncio.to_thread(samband, dep.state_dir, "audit", "query", "--to", "kustbevakningen")
        as_json = await asyncio.to_thread(samband, dep.state_dir, "audit", "query", "--json")
    finally:
        await platform.stop()
    trail = await audit_entries(dep)
    mine = [r for r in trail if r.recipient == "kustbevakningen"]
    assert [(r.decision, r.authority.ref, r.authority.council, r.authority.decided_by) for r in mine] == [
        ("allow", "DECISIONS#1", "rsr-syd", "RSR Syd"),
        ("allow", "DECISIONS#1", "rsr-syd", "RSR Syd"),
        ("allow", "DECISIONS#2", "rsr-syd", "RSR Syd"),
    ]
    assert {(r.authority.source, r.authority.kind, r.authority.target, r.authority.decided_on) for r in mine} == {
        ("decision", "cooption", "bacchus-kbv", str(TODAY))
    }
    assert mine[0].authority.decision_id == live.history[0].decision_id
    # the participants' allows rest on the shipped operation: the policy file, its path and version
    theirs = {r.authority for r in trail if r.decision == "allow" and r.recipient != "kustbevakningen"}
    assert theirs == {live.current.citations.of("operation", "bacchus-2017", live.version)}
    (cited,) = theirs
    assert (cited.source, cited.ref) == ("policy-file", str(SHIPPED / "operations.toml"))
    assert cited.version == Policy.load(SHIPPED).version
    # `audit query` says it in words and carries it in --json
    assert table.exit_code == 0, table.output
    assert table.output.count(f"granted by RSR Syd decision #1, {TODAY}") == 2
    assert table.output.count(f"granted by RSR Syd decision #2, {TODAY}") == 1
    stored = msgspec.json.decode(as_json.output)
    assert {e["authority"]["ref"] for e in stored if e["recipient"] == "kustbevakningen"} == {
        "DECISIONS#1",
        "DECISIONS#2",
    }
    # a citation names councils, decisions and files, never a person
    for r in trail:
        # the project's detector (dates and checksums), not the bare digit shape: a decision's random
        # UUID ends in twelve digits often enough (one run in ~280) to match the shape
        assert_no_personnummer(msgspec.json.encode(r.authority).decode(), f"the citation of entry {r.index}")


async def test_a_closed_operation_s_denials_cite_the_decision_that_closed_it(fresh_deployment, tmp_path):
    dep = fresh_deployment
    live, platform, router = await live_router(dep, tmp_path)
    try:
        out = await asyncio.to_thread(
            samband, dep.state_dir, "decision", "close", "bacchus-2017", "--council", "rsr-syd"
        )
        assert out.exit_code == 0 and "published as DECISIONS#1" in out.output, out.output
        await wait_for(lambda: live.current.operation("bacchus-2017").status == "closed")
        await polisen_publishes(dep, 1, seed=33)
        await wait_for(lambda: router.stats.records >= 1)
    finally:
        await platform.stop()
    (entry,) = await audit_entries(dep)
    assert entry.rule == "deny.operation-closed"
    assert entry.authority.text() == f"decided by RSR Syd decision #1, {TODAY}"
