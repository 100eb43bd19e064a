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

__all__ = ["inline_svg", "outcomes_svg", "timeline_svg"]

_PROLOG = re.compile(rb"^.*?(?=<svg)", re.S)
_COLOURS = {"allow": "#1b7f3b", "deny": "#b3261e"}  # contrast >= 4.5:1 on white


def inline_svg(data: bytes) -> str:
    """An SVG document as an element to put in a page (its XML prolog and doctype dropped)."""
    return _PROLOG.sub(b"", data, count=1).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


def timeline_svg(tl: Timeline, labels: Labels) -> str:
    """Matching decisions over time, a bar per time bucket stacked allow over deny."""
    matplotlib, plt = _pyplot()
    rc = {"svg.hashsalt": "samband-console", "svg.fonttype": "none", "font.size": 9}
    with matplotlib.rc_context(rc):
        fig, ax = plt.subplots(figsize=(12, 2.8), layout="constrained")
        try:
            n = max((len(v) for v in tl.counts.values()), default=0)
            xs = [_dt.datetime.fromtimestamp(tl.start + (k + 0.5) * tl.width, _dt.UTC) for k in range(n)]
            width = _dt.timedelta(seconds=tl.width * 0.9)
            bottom = [0] * n
            for decision in ("allow", "deny"):
                series = tl.counts.get(decision)
                if not series:
                    continue
                ax.bar(
                    xs, series, width=width, bottom=bottom, color=_COLOURS[decision], label=labels.decision(decision)
                )
                bottom = [b + c for b, c in zip(bottom, series)]
            ax.set_ylabel(labels("entries"))
            ax.spines[["top", "right"]].set_visible(False)
            if n:
                ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=2)
            fig.autofmt_xdate()
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        finally:
            plt.close(fig)
    return inline_svg(buf.getvalue())


def outcomes_svg(report: OutcomeReport, labels: Labels) -> str:
    """`samband outcomes report --chart`'s chart of ``report`` (a bar per category, stacked by agency)."""
    names = {s.key: labels.agency(s.key) for s in report.by_agency}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_chart(report, Path(tmp) / "outcomes.svg", names=names)
        return inline_svg(path.read_bytes())
