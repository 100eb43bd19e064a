"""An agency that claims what is not its own, and readers who ask for what is not theirs.

Beside the seed-figure stories: a hostile agency publishes outcomes with its own credentials but
without its adapter; the router refuses each as a whole, audits the refusal with a named rule, and
the follow-up's figures do not move. The report refuses, in one line, identities and regions it
cannot answer for.
"""

from __future__ import annotations

import datetime as _dt

import msgspec
import pytest

from samband.schemas import Envelope, Outcome, new_envelope_id

from .._support import audited, inbox_envelopes, report_as, report_json, send_as, wait_for
from .._support import samband_cli as samband

NOW = _dt.datetime.now(_dt.UTC)


def outcome(
    origin: str = "kronofogden", *, region: str = "mitt", operation: str = "samverkan-mitt", **record
) -> Envelope:
    fields = dict(
        agency=origin,
        region=region,
        category="distraint",
        amount_ore=250_000_00,
        period_from=_dt.date(2020, 6, 1),
        period_to=_dt.date(2020, 6, 30),
    )
    return Envelope(
        id=new_envelope_id(),
        record=Outcome(**(fields | record)),
        region=region,
        operation=operation,
        produced_at=NOW,
    )


async def refusal(follow_up, env: Envelope, sender: str = "kronofogden"):
    await send_as(follow_up.dep, sender, env)
    (entry,) = await audited(follow_up.dep, env.id)
    assert (entry.recipient, entry.decision, entry.origin) == ("-", "deny", sender)
    return entry


async def test_an_agency_reporting_another_agencys_result_is_refused_and_audited(follow_up):
    before = await report_as(follow_up.dep, "ruc_mitt", region="mitt")
    entry = await refusal(follow_up, outcome(agency="skatteverket", category="tax_reassessment"))
    assert entry.rule == "deny.outcome-other-agency"
    assert entry.reason == (
        "Expected `agency` to be `kronofogden` (the publishing account), got `skatteverket` - at `$.record.agency`"
    )
    assert await report_as(follow_up.dep, "ruc_mitt", region="mitt") == before  # the figures did not move


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(-100_000_00, "-10000000 öre"), (0, "0 öre"), (10**15, "1000000000000000 öre")],
    ids=["negative", "zero", "a thousand billion kronor"],
)
async def test_negative_zero_and_absurd_amounts_are_refused_and_audited(follow_up, amount, shown):
    entry = await refusal(follow_up, outcome(amount_ore=amount))
    assert entry.rule == "deny.outcome-amount"
    assert entry.reason == (
        f"Expected an amount from 0,01 to 1 000 000 000,00 kr (100000000000 öre), got {shown} - at `$.record.amount_ore`"
    )


async def test_an_outcome_claiming_another_region_or_operation_than_its_envelope_is_refused(follow_up):
    env = outcome()
    elsewhere = msgspec.structs.replace(env, record=msgspec.structs.replace(env.record, region="syd"))
    assert (await refusal(follow_up, elsewhere)).rule == "deny.outcome-other-region"
    env = outcome()
    other_op = msgspec.structs.replace(env, record=msgspec.structs.replace(env.record, operation="bacchus-2017"))
    entry = await refusal(follow_up, other_op)
    assert entry.rule == "deny.outcome-other-operation"
    assert entry.reason == (
        "Expected `operation` to be `samverkan-mitt` (the envelope's) or absent, got `bacchus-2017`"
        " - at `$.record.operation`"
    )


async def test_an_unknown_category_is_refused_and_a_personnummer_smuggled_into_it_is_masked(follow_up):
    entry = await refusal(follow_up, outcome(category="utbetalning 19850315-1236"))
    assert entry.rule == "deny.outcome-category"
    assert "got `utbetalning 198503**-****` - at `$.record.category`" in entry.reason
    assert "1236" not in msgspec.json.encode(entry).decode()


async def test_an_agency_outside_the_operation_cannot_report_results_in_it(follow_up):
    env = outcome("kustbevakningen", region="syd", operation="bacchus-2017")
    entry = await refusal(follow_up, env, sender="kustbevakningen")
    assert (entry.rule, entry.reason) == (
        "deny.sender-not-participant",
        "kustbevakningen does not take part in operation bacchus-2017",
    )


async def test_an_outcome_whose_payload_names_another_origin_is_refused_as_forged(follow_up):
    env = msgspec.structs.replace(outcome("skatteverket", category="tax_reassessment"), origin="skatteverket")
    entry = await refusal(follow_up, env, sender="kronofogden")
    assert entry.rule == "deny.forged-origin"


async def test_an_outcome_published_twice_reaches_the_ruc_once_and_counts_once(follow_up):
    env = outcome(
        "polisen",
        region="ost",
        operation="samverkan-ost",
        category="seizure",
        amount_ore=42_000_00,
        period_from=_dt.date(2024, 6, 1),
        period_to=_dt.date(2024, 6, 30),
    )
    stats = follow_up.router.stats
    before = stats.records
    await send_as(follow_up.dep, "polisen", env, msg_id="polisen:first")
    await send_as(follow_up.dep, "polisen", env, msg_id="polisen:again")  # another msg id: past INGEST's dedupe

    def both_routed() -> bool:
        """the router has taken both messages in"""
        return stats.records >= before + 2

    await wait_for(both_routed)
    entries = await audited(follow_up.dep, env.id, count=2)
    assert sorted((e.recipient, e.rule) for e in entries) == [
        ("ruc_ost", "samverkan-ost/outcome.follow-up"),
        ("uppfoljning", "samverkan-ost/outcome.follow-up"),
    ]
    assert [e.id for e in await inbox_envelopes(follow_up.dep, "ruc_ost", "outcome")] == [env.id]
    report = await report_as(follow_up.dep, "ruc_ost", region="ost")
    assert (report.received, report.total_ore) == (1, 42_000_00)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--as", "ruc_syd", "--region", "mitt"],
            2,
            "Error: Expected a region ruc_syd receives outcomes of (syd), got `mitt`",
        ),
        (
            ["--as", "skatteverket", "--region", "mitt"],
            1,
            "Error: Expected outcome records in skatteverket's inbox, got none: outcomes go to the region's Ruc "
            "and to the national follow-up (uppfoljning), and only once agencies have sent them",
        ),
        (
            ["--region", "nord", "--year", "2020"],
            1,
            "Error: Expected outcome records in ruc_nord's inbox, got none: outcomes go to the region's Ruc "
            "and to the national follow-up (uppfoljning), and only once agencies have sent them",
        ),
        (["--as", "ruc_narnia"], 2, "Error: Expected an identity on the bus ("),
        (["--year", "2020", "--from", "2020-01-01"], 2, "Error: Expected --year or --from/--to, got both"),
        (["--json", "--csv"], 2, "Error: Expected --json or --csv, got both"),
        (["--chart", "chart.pdf"], 2, "Expected a file ending in .svg or .png, got `chart.pdf`"),
    ],
    ids=[
        "a ruc asking for another region",
        "an agency that receives no outcomes",
        "a ruc with an empty inbox",
        "an identity not on the bus",
        "a year and a range",
        "json and csv",
        "a chart format we do not draw",
    ],
)
def test_a_report_outside_the_identitys_scope_is_refused_in_one_line(follow_up, args, code, message):
    out = samband(follow_up.dep, "outcomes", "report", *args)
    assert out.exit_code == code, out.output
    assert message in " ".join(out.output.split())


def test_a_report_with_nothing_matching_is_an_empty_table_not_an_error(follow_up):
    report = report_json(follow_up.dep, "--region", "mitt", "--year", "2019")
    assert (report["lines"], report["total_ore"], report["counted"]) == ([], 0, 0)
    assert report["received"] > 0
    out = samband(follow_up.dep, "outcomes", "report", "--region", "mitt", "--year", "2019")
    assert out.exit_code == 0 and "│ total " in out.output and " 0,00 │" in out.output


def test_the_report_says_so_in_one_line_when_the_broker_is_gone(fresh_deployment):
    fresh_deployment.stop()
    out = samband(fresh_deployment, "outcomes", "report", "--region", "mitt")
    assert out.exit_code == 1
    assert out.output == (
        f"Error: Expected a nats-server at {fresh_deployment.url} for `ruc_mitt`, got connection refused: is the "
        f"deployment running? Start it with `samband --state-dir {fresh_deployment.state_dir} up`\n"
    )
