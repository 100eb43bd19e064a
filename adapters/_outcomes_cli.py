"""`samband outcomes report`: what the cooperation achieved, from the outcomes an identity received."""

from __future__ import annotations

import asyncio
import datetime as _dt
from pathlib import Path

import click

from samband.observability import output_console
from samband.schemas import REGIONS

from ._chart import CHART_SUFFIXES, write_chart
from ._errors import ReportError
from ._outcomes import OutcomeReport, outcomes_report, report_csv, report_json
from ._outcomes_view import report_table

__all__ = ["outcomes"]

console = output_console(stderr=True)
_DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group("outcomes")
def outcomes() -> None:
    """What the cooperation achieved: reports from the outcome records an identity received (docs/outcomes.md)."""


@outcomes.command("report")
@click.option("--region", type=click.Choice(REGIONS), help="Only outcomes of this region.")
@click.option("--year", type=int, help="Only outcomes whose period ends in this year.")
@click.option("--from", "from_", type=_DAY, help="Only outcomes whose period ends on or after this day.")
@click.option("--to", type=_DAY, help="Only outcomes whose period ends on or before this day.")
@click.option("--operation", help="Only outcomes of this operation.")
@click.option("--agency", help="Only this agency's outcomes.")
@click.option(
    "--as",
    "identity",
    help="The reporting identity, whose inbox and credentials are used [default: the region's Ruc, "
    "or uppfoljning (the national follow-up) without --region or for national].",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (amounts in öre and as SEK).")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per category, agency and status.")
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw a bar per category stacked by agency to FILE (.svg or .png).",
)
@click.pass_obj
def report(
    obj,
    region: str | None,
    year: int | None,
    from_: _dt.datetime | None,
    to: _dt.datetime | None,
    operation: str | None,
    agency: str | None,
    identity: str | None,
    as_json: bool,
    as_csv: bool,
    chart: Path | None,
) -> None:
    """Outcomes per category and agency in SEK, with totals, from what the reporting identity received."""
    start, end = from_ and from_.date(), to and to.date()
    if year is not None:
        if start or end:
            raise click.UsageError("Expected --year or --from/--to, got both")
        start, end = _dt.date(year, 1, 1), _dt.date(year, 12, 31)
    if as_json and as_csv:
        raise click.UsageError("Expected --json or --csv, got both")
    if chart is not None and chart.suffix.lower() not in CHART_SUFFIXES:
        raise click.BadParameter(f"Expected a file ending in .svg or .png, got `{chart.name}`", param_hint="--chart")
    identity = identity or (f"ruc_{region}" if region not in (None, "national") else "uppfoljning")
    obj.check_agency(agency, "--agency")
    parties = obj.deployment().agencies
    if identity not in parties:
        raise click.UsageError(f"Expected an identity on the bus ({', '.join(sorted(parties))}), got `{identity}`")
    try:
        result = asyncio.run(_report(obj, identity, region, start, end, operation, agency, parties[identity].regions))
    except ReportError as exc:
        if exc.usage:
            raise click.UsageError(str(exc)) from None
        raise click.ClickException(str(exc)) from None
    names = {slug: a.name for slug, a in parties.items()}
    if as_json:
        click.echo(report_json(result).decode(), nl=False)
    elif as_csv:
        click.echo(report_csv(result), nl=False)
    else:
        out = output_console()
        out.width = max(out.width, 100)  # the table needs 93 columns; narrower, rich would wrap its words
        out.print(report_table(result, names))
    if chart is not None:
        console.print(f"chart: {write_chart(result, chart, names=names)}")


async def _report(obj, identity, region, start, end, operation, agency, scope) -> OutcomeReport:
    try:
        # one retry, not for ever: a report is a question, and nobody waits for a broker that is gone
        nc = await obj.deployment().connect(identity, max_reconnect_attempts=1)
    except Exception as exc:  # the deployment raises broker_config's errors, which this package may not import
        raise ReportError(str(exc)) from exc
    try:
        return await outcomes_report(
            nc, identity, region=region, start=start, end=end, operation=operation, agency=agency, scope=scope
        )
    finally:
        await nc.close()
