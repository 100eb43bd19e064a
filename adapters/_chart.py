"""The outcomes report as a chart: a bar per category, stacked by agency (matplotlib, no display).

matplotlib is imported here only, with the Agg backend, so a headless server draws it and the
rest of samband does not pay its import. The amounts stay integers: the bars are whole kronor and
the axis ticks are placed and labelled by integer arithmetic (`_ticks`); matplotlib's own number
formatting is not used. SVG output is reproducible (no date, a fixed hash salt), so a chart
committed to the docs changes only when the figures do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from samband.schemas import format_kronor

from ._errors import ReportError
from ._outcomes import OutcomeReport

__all__ = ["CHART_SUFFIXES", "write_chart"]

CHART_SUFFIXES = (".svg", ".png")
_NICE = (1, 2, 5)


def _ticks(top_kr: int) -> list[int]:
    """Round tick values in kronor from 0 to at least ``top_kr``, about five of them."""
    step, scale = 1, 1
    while True:
        for nice in _NICE:
            step = nice * scale
            if top_kr <= step * 5:
                return [i * step for i in range((top_kr + step - 1) // step + 1)] or [0, 1]
        scale *= 10


def _label(kr: int) -> str:
    """``20 500 000`` kr as ``20,5 Mkr``; below a million in kkr; exact to one decimal, else rounded down."""
    if kr >= 1_000_000:
        whole, tenth = divmod(kr // 100_000, 10)
        return f"{whole},{tenth} Mkr" if tenth else f"{whole} Mkr"
    if kr >= 1_000:
        return f"{kr // 1_000} kkr"
    return f"{kr} kr"


def write_chart(report: OutcomeReport, path: Path, *, names: Mapping[str, str] | None = None) -> Path:
    """Draw ``report`` (decided amounts) to ``path`` (.svg or .png): one bar per category, stacked by agency."""
    path = Path(path)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise ReportError(f"Expected a chart file ending in .svg or .png, got `{path.name}`", usage=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = dict(names or {})
    categories = [s.key for s in report.by_category]
    agencies = [s.key for s in report.by_agency]
    kronor = {(line.category, line.agency): line.amount_ore // 100 for line in report.lines}
    with matplotlib.rc_context({"svg.hashsalt": "samband", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
        try:
            bottoms = [0] * len(categories)
            colours = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
            for i, agency in enumerate(agencies):
                heights = [kronor.get((c, agency), 0) for c in categories]
                ax.bar(
                    range(len(categories)),
                    heights,
                    bottom=bottoms,
                    label=names.get(agency, agency),
                    color=colours[i % len(colours)],
                )
                bottoms = [b + h for b, h in zip(bottoms, heights)]
            ticks = _ticks(max(bottoms, default=0))
            ax.set_yticks(ticks, labels=[_label(t) for t in ticks])
            ax.set_xticks(range(len(categories)), labels=[s.name for s in report.by_category], rotation=20, ha="right")
            ax.set_ylabel("kronor")
            ax.set_title(_title(report))
            if agencies:
                ax.legend(title="agency", fontsize=8)
            ax.spines[["top", "right"]].set_visible(False)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, metadata={"Date": None} if path.suffix.lower() == ".svg" else None)
        finally:
            plt.close(fig)
    return path


def _title(report: OutcomeReport) -> str:
    where = f"region {report.region}" if report.region else "every region"
    when = ""
    if report.period_from and report.period_to:
        whole_year = (report.period_from.month, report.period_from.day, report.period_to.month, report.period_to.day)
        if report.period_from.year == report.period_to.year and whole_year == (1, 1, 12, 31):
            when = f" {report.period_from.year}"
        else:
            when = f" {report.period_from.isoformat()} to {report.period_to.isoformat()}"
    op = f", operation {report.operation}" if report.operation else ""
    return f"Outcomes, {where}{when}{op}: {format_kronor(report.total_ore)} kr (received by {report.identity})"
