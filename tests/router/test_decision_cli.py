"""`samband decision` as a council's secretariat types it, against a real nats-server."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json

import pytest

from samband.cli import cli
from samband.router import SWEDISH_TIME, create_council_keys

from .._support import CommandRunner

TODAY = _dt.datetime.now(SWEDISH_TIME).date()  # the operation below is in force whenever the suite runs
LAST_DAY = TODAY + _dt.timedelta(days=365)
OVERLOAD_FIELDS = "report_id,weighed_at,location,vehicle,operator,measured_kg,permitted_kg"


@pytest.fixture
def state(fresh_deployment):
    asyncio.run(fresh_deployment.provision())
    create_council_keys(fresh_deployment.state_dir)
    return fresh_deployment.state_dir


def samband(state, *args: str):
    return CommandRunner().invoke(cli, ["--state-dir", str(state), *args], env={"COLUMNS": "400"})


def create_vast(state, *extra: str):
    return samband(
        state,
        "decision",
        "create",
        "vast-arbetsliv",
        "--council",
        "rsr-vast",
        "--name",
        "Work-life crime in region Väst",
        "--participant",
        "skatteverket=tax_control",
        "--participant",
        "arbetsmiljoverket=workplace_inspection",
        "--record-type",
        "tax.audit",
        "--from",
        str(TODAY),
        "--to",
        str(LAST_DAY),
        *extra,
    )


def grant_transportstyrelsen(state, *extra: str, fields: str = OVERLOAD_FIELDS):
    return samband(
        state,
        "decision",
        "grant",
        "bacchus-ts",
        "--council",
        "rsr-syd",
        "--agency",
        "transportstyrelsen",
        "--operation",
        "bacchus-2017",
        "--record-type",
        "police.overload_report",
        "--field",
        fields,
        "--from",
        "2026-03-29",
        "--to",
        "2026-10-25",
        "--reason",
        "overload reports for company controls",
        "--legal-basis",
        "OSL 2009:400 10 kap. 27 §",
        *extra,
    )


def test_a_dry_run_prints_what_the_decision_changes_and_publishes_nothing(state):
    result = create_vast(state, "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "decision of RSR Väst, signed by rsr-vast: create operation vast-arbetsliv"
    assert lines[1].startswith("policy ") and " -> " in lines[1]
    assert lines[2:] == [
        f"operation added: vast-arbetsliv (vast, active, {TODAY} to {LAST_DAY}, by RSR Väst)",
        "outcome:",  # a new operation's outcomes go to the follow-up (outcomes.toml)
        *(
            f"  + {r} in vast-arbetsliv by rule vast-arbetsliv/outcome.follow-up: added, fields agency, region, "
            "operation, category, amount_ore, period_from, period_to, status, cases, source"
            for r in ("ruc_vast", "uppfoljning")
        ),
        "tax.audit:",
        "  + arbetsmiljoverket in vast-arbetsliv by rule vast-arbetsliv/tax-audit.workplace: added, "
        "fields audit_id, opened_on, taxpayer, scope, status",
        "dry run: nothing published",
    ]
    listed = samband(state, "decision", "list")
    assert "history (DECISIONS stream, 0 message(s)):" in listed.output
    assert "operation vast-arbetsliv:" not in listed.output


def test_a_published_decision_is_in_force_and_in_the_history_with_its_stream_sequence(state):
    result = create_vast(state)
    assert result.exit_code == 0, result.output
    assert "published as DECISIONS#1 (decision " in result.output
    listed = samband(state, "decision", "list")
    assert listed.exit_code == 0, listed.output
    assert (
        f"  operation vast-arbetsliv: in force; vast, {TODAY} to {LAST_DAY}, by RSR Väst, 2 participants; "
        "set by DECISIONS#1" in listed.output
    )
    assert (
        "  operation bacchus-2017: in force; syd, 2016-11-01 to further notice, by RSR Syd, 8 participants; set by operations.toml"
        in listed.output
    )
    [history] = [line for line in listed.output.splitlines() if line.startswith("  DECISIONS#1 ")]
    assert history.endswith(
        "rsr-vast: create operation vast-arbetsliv: admitted: operation vast-arbetsliv created by RSR Väst"
    )
    as_json = json.loads(samband(state, "decision", "list", "--json").output)
    assert [(e["seq"], e["council"], e["action"], e["accepted"]) for e in as_json["history"]] == [
        (1, "rsr-vast", "create", True)
    ]


def test_a_grant_runs_from_swedish_midnight_to_the_swedish_midnight_after_its_last_day_across_a_clock_change(state):
    result = grant_transportstyrelsen(state, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["record"]["valid_from"], out["record"]["valid_to"]) == (
        "2026-03-29T00:00:00+01:00",  # summer time starts at 02:00 that day
        "2026-10-26T00:00:00+01:00",  # and has ended on the 25th
    )
    assert out["published"] is True and out["decision"]["seq"] == 1
    revoked = samband(state, "decision", "revoke", "bacchus-ts", "--council", "rsr-syd")
    assert revoked.exit_code == 0, revoked.output
    assert "grant revoked: bacchus-ts: transportstyrelsen in bacchus-2017" in revoked.output
    listed = samband(state, "decision", "list").output
    assert "  grant bacchus-ts: revoked; transportstyrelsen in bacchus-2017, " in listed
    assert "set by DECISIONS#2" in listed


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ("--participant", "tullverk=customs_control"),
            "Error: Invalid value for --participant: Expected an agency known to the policy (agencies.toml, or "
            "onboarded), got `tullverk`",
        ),
        (
            ("--participant", "tullverket=smuggling"),
            "Error: Invalid value for --participant: Expected a purpose from need_to_know.toml (benefit_control, "
            "customs_control, economic_crime, enforcement, intelligence, migration_control, policing, prosecution, "
            "situation_picture, study_aid_control, tax_control, workplace_inspection), got `smuggling`",
        ),
        (
            ("--record-type", "tax.revision"),
            "Error: Invalid value for --record-type: Expected a record type from samband.schemas (samband schemas "
            "export lists them), got `tax.revision`",
        ),
        (
            ("--legal-basis", "LUS 2017:1"),
            "Error: Invalid value for --legal-basis: Expected a legal basis from legal_bases.toml (LUS 2016:774; "
            "OSL 2009:400 10 kap. 27 §; OSL 2009:400 6 kap. 5 §), got `LUS 2017:1`",
        ),
        (
            ("--from", "1 maj"),
            "Error: Invalid value for --from: Expected a date YYYY-MM-DD (a Swedish calendar day), got `1 maj`",
        ),
    ],
)
def test_a_bad_option_is_refused_naming_the_option_and_the_value(state, args, message):
    opts = ["--participant", "skatteverket=tax_control", "--record-type", "tax.audit", *args]
    result = samband(state, "decision", "create", "vast-x", "--council", "rsr-vast", "--name", "X", *opts)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == message + " (try `samband decision create -h`)"


def test_rsr_syd_cannot_amend_an_operation_in_mitt(state):
    result = samband(state, "decision", "amend", "mitt-valfard-2020", "--council", "rsr-syd", "--to", "2021-12-31")
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for OPERATION: Expected an operation within rsr-syd's scope (syd), got "
        "`mitt-valfard-2020 (mitt)` (try `samband decision amend -h`)"
    )


def test_a_decision_the_router_would_refuse_is_not_published(state):
    result = grant_transportstyrelsen(state, fields="report_id,weighed_at,location,vehicle")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: the router would refuse this decision: Expected every required field of police.overload_report "
        "(missing measured_kg, permitted_kg), got `['report_id', 'weighed_at', 'location', 'vehicle']` - at "
        "`$.record.fields`"
    )
    assert "0 message(s)" in samband(state, "decision", "list").output


def test_without_the_councils_private_key_nothing_is_signed(state, tmp_path):
    result = create_vast(state, "--key-dir", str(tmp_path / "elsewhere"))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: Expected rsr-vast's private key at {tmp_path / 'elsewhere' / 'rsr-vast.key'}, got no such file "
        "(a council's key lives with its secretariat; point --key-dir at it)"
    )


def test_decision_list_says_how_many_older_refused_messages_a_flood_pushed_out_of_the_history(state, monkeypatch):
    """Junk sent to DECISIONS by the thousand is refused; the router keeps the newest refusals only, and
    the list says how many more there were rather than showing a history that looks whole."""
    from samband.broker_config import SSO, Deployment
    from samband.router import _decisions
    from samband.schemas.layout import decision_subject

    monkeypatch.setattr(_decisions, "KEEP_REFUSED", 3)  # the router's bound, small: 10,000 in service

    async def flood(n: int) -> None:
        nc = await Deployment.load(state).connect(SSO)
        try:
            js = nc.jetstream()
            for i in range(n):
                await js.publish(decision_subject("cooption", f"junk-{i}"), b'{"junk": %d}' % i)
        finally:
            await nc.close()

    assert grant_transportstyrelsen(state).exit_code == 0
    asyncio.run(flood(10))
    listed = samband(state, "decision", "list")
    assert listed.exit_code == 0, listed.output
    # 10 refusals met: past twice the bound (7 held) the history drops to the newest 3, then holds 3 more
    assert "history (DECISIONS stream, 7 message(s); 4 older refused message(s) not listed):" in listed.output
    history = listed.output.split("not listed):\n")[1].splitlines()
    assert [line.split()[0] for line in history] == ["DECISIONS#1"] + [f"DECISIONS#{i}" for i in range(6, 12)]
    assert ": grant cooption bacchus-ts: admitted: " in history[0]  # an admitted decision is never dropped
    assert all(": REFUSED: Expected a `Samband-Council` header" in line for line in history[1:])


LARGE = 60 * 1024  # a message just under the largest decision the router reads


async def junk(state, up_to: int, size: int = LARGE) -> int:
    """Messages of ``size`` bytes on decisions.> with SSO's credentials until ``up_to`` bytes are sent or
    DECISIONS refuses one as full; how many were stored."""
    from samband.broker_config import SSO, Deployment
    from samband.observability.bus import AckPipeline, PubAck, PublishRefused
    from samband.schemas.layout import decision_subject

    nc = await Deployment.load(state).connect(SSO)
    pipeline = AckPipeline(nc)
    sent = 0
    try:
        while sent * size < up_to:
            n = min(128, -(-(up_to - sent * size) // size))
            items = [(decision_subject("cooption", f"junk-{size}-{sent + i}"), b"x" * size, {}) for i in range(n)]
            for r in await pipeline.publish(items, 30):
                if not isinstance(r, PubAck):
                    assert isinstance(r, PublishRefused) and r.error.description == "maximum bytes exceeded", r
                    return sent
                sent += 1
        return sent
    finally:
        await pipeline.close()
        await nc.close()


def test_decision_list_reads_a_history_of_large_messages_as_the_auditor(state):
    """The auditor replays DECISIONS through an ordered consumer, whose flow control it must answer: it
    could not (no permission), and a replay of more than a few MB stalled until its timeout."""
    assert asyncio.run(junk(state, 256 * LARGE)) == 256
    listed = samband(state, "decision", "list")
    assert listed.exit_code == 0, listed.output
    assert "history (DECISIONS stream, 256 message(s)" in listed.output


def test_a_flood_that_fills_the_decisions_room_makes_the_next_decision_refused_in_one_line(state):
    """SSO's credentials may publish anything up to 64 KiB on decisions.>. A loop of those used to fill
    the router's storage, which the audit log shares (every append refused, every delivery stopped);
    DECISIONS now reserves its room and refuses past it, dropping nothing it holds. The room is checked
    as shipped, then made small (as the steward may): filling 128 MiB in every suite run would write
    that much to the disk the tests after it share, for one assertion."""
    import dataclasses

    from nats.js.api import DiscardPolicy

    from samband.broker_config import DECISIONS_BYTES, STEWARD, Deployment

    room = 32 * LARGE

    async def make_small() -> None:
        nc = await Deployment.load(state).connect(STEWARD)
        try:
            js = nc.jetstream()
            info = await js.stream_info("DECISIONS")
            assert (info.config.max_bytes, info.config.discard) == (DECISIONS_BYTES, DiscardPolicy.NEW)
            await js.update_stream(dataclasses.replace(info.config, max_bytes=room))
        finally:
            await nc.close()

    asyncio.run(make_small())
    sent = asyncio.run(junk(state, 2 * room))
    assert room - 4 * LARGE < sent * LARGE <= room  # each stored with its subject
    sent += asyncio.run(junk(state, 2 * LARGE, 256))  # and what room is left, in small ones
    result = create_vast(state)
    assert result.exit_code == 1
    assert result.output == (
        "Error: the decision was not published: the DECISIONS stream is full, and it refuses new messages "
        "rather than drop any (an audit entry cites each); `samband decision list` shows what filled it\n"
    )
    listed = samband(state, "decision", "list")
    assert listed.exit_code == 0 and f"history (DECISIONS stream, {sent} message(s)" in listed.output
