"""An adapter's metrics: its run's `PublishSummary` and its inbox sink, read when Prometheus scrapes.

Nothing is counted for them that the adapter did not count already, but the inbox's lag, read
from the last delivered message of each fetch (docs/operating.md, "Metrics", lists the names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from samband.observability import observe

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

    from ._inbound import InboxSink
    from ._runtime import PublishSummary

__all__ = ["instrument_adapter"]


def instrument_adapter(meter: Meter, agency: str, summary: PublishSummary, sink: InboxSink | None) -> None:
    """The adapter's instruments on ``meter``, each with the ``agency`` attribute."""
    who = {"agency": agency}
    observe(
        meter,
        "samband.adapter.records",
        "counter",
        "{record}",
        "Records of the native export, by what became of them: read, published, duplicate "
        "(already on the bus), dead_letter (refused by the adapter, in the agency's DEADLETTER).",
        lambda: [
            (summary.read, {**who, "outcome": "read"}),
            (summary.published, {**who, "outcome": "published"}),
            (summary.duplicates, {**who, "outcome": "duplicate"}),
            (len(summary.rejected), {**who, "outcome": "dead_letter"}),
        ],
    )
    if sink is None:
        return
    start = len(sink)  # what earlier runs wrote is in the file already: this process counts its own
    observe(
        meter,
        "samband.adapter.inbox_records",
        "counter",
        "{record}",
        "Delivered records the adapter wrote to its sink (and receipted).",
        lambda: [(len(sink) - start, who)],
    )
    observe(
        meter,
        "samband.adapter.inbox_lag",
        "gauge",
        "{record}",
        "Records left in the agency's INBOX for this reader, as of its last fetch.",
        lambda: [(sink.pending, who)],
    )
