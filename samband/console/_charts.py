"""Charts drawn on the server with matplotlib, inlined as SVG: no script, no request to anyone.

Text stays text (``svg.fonttype: none``: searchable, scaled with the page, read by screen
readers), ids are stable (``svg.hashsalt``) so two renders of one state are the same bytes, and
the drawing is headless (Agg). The outcomes chart is `samband.adapters.write_chart`'s, read back.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import tempfile
from pathlib import Path

from samband.adapters import OutcomeReport, write_chart
from samband.observability.audit import Timeline

from ._labels import Labels

__all__ = ["inline_svg", "outcomes_svg", "timeline_svg", "warm_up"]

_PROLOG = re.compile(rb"^.*?(?=<svg)", re.S)
_COLOURS = {"allow": "#1b7f3b", "deny": "#b3261e"}  # contrast >= 4.5:1 on white


def inline_svg(data: bytes) -> str:
    """An SVG document as an element to put in a page (its XML prolog and doctype dropped)."""
    return _PROLOG.sub(b"", data, count=1).decode()


def _pyplot():
    import matplotlib
    import matplotlib.dates

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


def timeline_svg(tl: Timeline, labels: Labels) -> str:
    """Matching decisions over time, a bar per time bucket stacked allow over deny."""
    matplotlib, plt = _pyplot()
    rc = {"svg.hashsalt": "samband-console", "svg.fonttype": "none", "font.size": 9}
    with matplotlib.rc_context(rc):
        # a fixed layout: the constrained layout engine cost a third of the drawing (`samband bench console`)
        fig, ax = plt.subplots(figsize=(12, 2.8))
        fig.subplots_adjust(left=0.06, right=0.99, top=0.84, bottom=0.22)
        try:
            n = max((len(v) for v in tl.counts.values()), default=0)
            to_num = matplotlib.dates.date2num
            edges = [to_num(_dt.datetime.fromtimestamp(tl.start + k * tl.width, _dt.UTC)) for k in range(n + 1)]
            bottom = [0] * n
            for decision in ("allow", "deny"):
                series = tl.counts.get(decision)
                if not series:
                    continue
                top = [b + c for b, c in zip(bottom, series)]
                # one filled step outline per decision (two shapes, not a bar per bucket: half the drawing time)
                ax.stairs(
                    top, edges, baseline=bottom, fill=True, color=_COLOURS[decision], label=labels.decision(decision)
                )
                bottom = top
            ax.xaxis_date()
            ax.set_ylabel(labels("entries"))
            ax.spines[["top", "right"]].set_visible(False)
            if n:
                ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=2)
            ax.xaxis.set_major_locator(matplotlib.dates.AutoDateLocator(maxticks=8))
            ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        finally:
            plt.close(fig)
    return inline_svg(buf.getvalue())


def warm_up() -> None:
    """Import and draw once (~0.6 s), so that no user's first page pays for it."""
    timeline_svg(Timeline(start=0.0, width=1.0, counts={"allow": [1]}, total=1), Labels("sv"))


def outcomes_svg(report: OutcomeReport, labels: Labels) -> str:
    """`samband outcomes report --chart`'s chart of ``report`` (a bar per category, stacked by agency)."""
    names = {s.key: labels.agency(s.key) for s in report.by_agency}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_chart(report, Path(tmp) / "outcomes.svg", names=names)
        return inline_svg(path.read_bytes())
