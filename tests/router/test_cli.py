"""`samband policy explain|test` and `samband router run` as a user types them."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal

from samband.broker_config import ROUTER
from samband.cli import cli

from .._support import SHIPPED, CommandRunner, read_until, samband_process, stop_samband_process, wait_for
from ..broker_config._records import vehicle_control_bytes

ENV = {"COLUMNS": "400"}

VC = (
    '{"id":"x1","record":{"type":"police.vehicle_control","control_id":"PM-1","controlled_at":"2017-03-03T20:07:00+01:00",'
    '"location":"Helsingborg","vehicle":{"type":"vehicle","plate":"LLS264"},"vehicle_kind":"buss",'
    '"driver":{"type":"person","pnr":"195711134550"}},"region":"syd","operation":"bacchus-2017",'
    '"produced_at":"2017-03-03T20:07:00+01:00"}'
)


def test_the_shipped_policy_tests_pass_and_report_like_pytest():
    files = sorted(str(p) for p in (SHIPPED / "tests").glob("*.toml"))
    result = CommandRunner().invoke(cli, ["policy", "test", *files], env=ENV)
    assert result.exit_code == 0, result.output
    assert "bacchus.toml::Transportstyrelsen stops receiving when its grant expires PASSED" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("==================== 54 passed in ")


def test_without_files_policy_test_runs_the_policy_directorys_own_tests():
    result = CommandRunner().invoke(cli, ["policy", "test"], env=ENV)
    assert result.exit_code == 0, result.output
    assert (
        "national_and_lus.toml::CSN takes part in region Mitt 2020 but LUS does not cover CSN before 2022-05-01 PASSED"
        in result.output
    )


def test_a_failing_policy_test_is_reported_with_what_was_expected_and_exits_1(tmp_path):
    text = (SHIPPED / "tests" / "bacchus.toml").read_text()
    broken = text.replace(
        'to = "forsakringskassan"\nat = 2017-03-04T08:00:00+01:00\nexpect = "allow"',
        'to = "forsakringskassan"\nat = 2017-03-04T08:00:00+01:00\nexpect = "deny"',
        1,
    )
    (tmp_path / "bacchus.toml").write_text(broken)
    result = CommandRunner().invoke(cli, ["policy", "test", str(tmp_path / "bacchus.toml")], env=ENV)
    assert result.exit_code == 1
    assert (
        "::Försäkringskassan learns who travelled and in what role, not the head count or the remark FAILED"
        in result.output
    )
    assert (
        "E   expected deny, got allow by rule bacchus-2017/vehicle-control.benefits: forsakringskassan takes part in "
        "operation bacchus-2017 for benefit_control, which needs these fields of police.vehicle_control"
    ) in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("==================== 1 failed, 25 passed in ")


def test_a_policy_test_file_with_a_bad_case_is_an_error_naming_the_key(tmp_path):
    (tmp_path / "t.toml").write_text(
        '[[case]]\nname = "x"\nrecord = "nope"\nto = "tullverket"\nat = 2017-01-01T00:00:00Z\nexpect = "maybe"\n'
    )
    result = CommandRunner().invoke(cli, ["policy", "test", str(tmp_path / "t.toml")], env=ENV)
    assert result.exit_code == 1
    assert "ERROR t.toml: Invalid enum value 'maybe' - at `$.case[0].expect` (value 'maybe')" in result.output


def test_explain_tells_a_security_chief_why_transportstyrelsen_gets_no_vehicle_controls(tmp_path):
    (tmp_path / "vc.json").write_text(VC)
    result = CommandRunner().invoke(
        cli,
        [
            "policy",
            "explain",
            "--record",
            str(tmp_path / "vc.json"),
            "--to",
            "transportstyrelsen",
            "--origin",
            "polisen",
            "--at",
            "2017-03-03T12:00:00",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "✓ The sender polisen takes part in the operation." in lines
    assert lines[-2] == (
        "✗ DENY by rule deny.outside-grant: transportstyrelsen is co-opted to operation bacchus-2017 for "
        "police.overload_report only, not police.vehicle_control."
    )
    assert lines[-1] == (
        "(This explanation only read the policy: nothing was sent and nothing was written to the audit trail. "
        "The router writes an audit record for every decision it makes, allow or deny.)"
    )


def test_explain_without_an_origin_says_how_to_give_one(tmp_path):
    (tmp_path / "vc.json").write_text(VC)
    result = CommandRunner().invoke(
        cli, ["policy", "explain", "--record", str(tmp_path / "vc.json"), "--to", "tullverket"], env=ENV
    )
    assert result.exit_code == 1
    assert "Error: vc.json: the envelope names no origin; give the sender with --origin AGENCY" in result.output


async def _publish_and_wait_routed(dep) -> None:
    """Polisen publishes one Bacchus vehicle control; returns once the router has acknowledged it."""
    env, data = vehicle_control_bytes(random.Random(1107))
    nc = await dep.connect("polisen")
    try:
        await nc.jetstream().publish("out.police.vehicle_control", data, headers={"Nats-Msg-Id": env.id})
    finally:
        await nc.close()
    rc = await dep.connect(ROUTER)
    try:

        async def routed() -> bool:
            return (await rc.jetstream().consumer_info("INGEST_polisen", "router")).ack_floor.stream_seq >= 1

        await wait_for(routed, timeout=30)
    finally:
        await rc.close()


def test_samband_router_run_routes_as_its_own_process_re_reads_its_policy_on_sighup_and_stops_on_sigterm(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    asyncio.run(dep.provision())
    policy = tmp_path / "policy"
    shutil.copytree(SHIPPED, policy)
    proc, lines = samband_process(
        dep.state_dir, "router", "run", "--policy", str(policy), ready="router running, policy ", env=ENV
    )
    started = next(ln for ln in lines if "router running, policy " in ln).split("policy ")[1].split(";")[0]
    # An edit of the same size with the old modification time: the file watcher cannot see it, only SIGHUP can.
    ops = policy / "operations.toml"
    before = ops.stat()
    ops.write_text(ops.read_text().replace("valid_from = 2016-11-01", "valid_from = 2016-12-01", 1))
    os.utime(ops, ns=(before.st_atime_ns, before.st_mtime_ns))
    proc.send_signal(signal.SIGHUP)
    lines += read_until(proc, "policy files reloaded", 30, "the router after SIGHUP")
    assert proc.poll() is None  # re-read, still running
    asyncio.run(_publish_and_wait_routed(dep))
    out = stop_samband_process(proc, lines)
    stopped = next(ln for ln in out.splitlines() if ln.startswith("router stopped cleanly: "))
    assert stopped.startswith("router stopped cleanly: 1 records, 8 decisions (7 allow, 1 deny), policy ")
    assert not stopped.endswith(started)  # the policy it stopped with is the re-read one
    assert (dep.state_dir / "keys" / "pseudonym.key").stat().st_mode & 0o777 == 0o600


def test_explain_native_maps_a_line_of_an_agencys_own_export_through_its_mapping_first(tmp_path):
    sample = CommandRunner().invoke(cli, ["adapter", "sample", "polisen", "3", str(tmp_path), "--seed", "7"])
    export = sample.stdout.strip()
    args = ["policy", "explain", "--native", "polisen", f"{export}:2", "--to", "tullverket"]
    result = CommandRunner().invoke(cli, [*args, "--at", "2017-03-03T20:00:00+01:00", "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["decision"], doc["rule"], doc["origin"], doc["record_type"]) == (
        "allow",
        "bacchus-2017/vehicle-control.customs",
        "polisen",
        "police.vehicle_control",
    )
    assert doc["at"] == "2017-03-03T20:00:00+01:00" and doc["steps"][-1]["text"].startswith("ALLOW by rule ")
    text = CommandRunner().invoke(cli, args, env=ENV)
    assert "the question is whether tullverket (Tullverket, core agency) may receive it" in text.stdout


def test_policy_test_json_reports_each_case():
    result = CommandRunner().invoke(cli, ["policy", "test", "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["failed"] == 0 and doc["passed"] == len(doc["cases"]) > 20
