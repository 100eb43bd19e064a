"""The outcomes report as a table for people: per category and agency in kronor, subtotals, the total."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from samband.schemas import format_kronor

from ._outcomes import OutcomeReport

__all__ = ["report_table", "report_title"]


def report_title(report: OutcomeReport) -> str:
    where = f"region {report.region}" if report.region else "every region"
    when = ""
    if report.period_from or report.period_to:
        when = f", {report.period_from or '…'} to {report.period_to or '…'}"
    what = "".join(f", {k} {v}" for k, v in (("operation", report.operation), ("agency", report.agency)) if v)
    return (
        f"Outcomes (utfall), {where}{when}{what}: received by {report.identity} "
        f"({report.counted} of {report.received} outcome records counted)"
    )


def report_table(report: OutcomeReport, names: Mapping[str, str] | None = None) -> Table:
    """One row per category and agency, a subtotal per category with more than one agency, the total;
    requested amounts (not yet decided) below it, outside the total."""
    names = names or {}
    table = Table(title=report_title(report), title_justify="left")
    table.add_column("category")
    table.add_column("agency")
    table.add_column("records", justify="right")
    table.add_column("cases", justify="right")
    table.add_column("kronor", justify="right")
    subtotal = {s.key: s.amount_ore for s in report.by_category}
    last = None
    for i, line in enumerate(report.lines):
        first = line.category != last
        last = line.category
        table.add_row(
            line.category_name if first else "",
            names.get(line.agency, line.agency),
            str(line.records),
            str(line.cases),
            format_kronor(line.amount_ore),
        )
        closing = i + 1 == len(report.lines) or report.lines[i + 1].category != line.category
        if closing and not first:
            table.add_row("", "[italic]subtotal[/]", "", "", f"[italic]{format_kronor(subtotal[line.category])}[/]")
    table.add_section()
    table.add_row("[bold]total[/]", "", "", "", f"[bold]{format_kronor(report.total_ore)}[/]")
    if report.requested:
        table.add_section()
        for line in report.requested:
            table.add_row(
                f"{line.category_name} (requested: not in the total)",
                names.get(line.agency, line.agency),
                str(line.records),
                str(line.cases),
                format_kronor(line.amount_ore),
            )
    if report.not_own:
        table.caption = f"{report.not_own} outcome records whose agency is not their sender were not counted"
    return table
