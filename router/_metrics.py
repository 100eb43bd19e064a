"""The router's metrics: its `RouterStats`, read when Prometheus scrapes, and the audit append latency.

Nothing here runs per message but `count_batch`, once per pulled batch; the instruments read the
counts the router keeps anyway (docs/operating.md, "Metrics", lists the names).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from samband.observability import observe
from samband.observability.bus import ack_pending

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, Meter

    from ._plan import RouterStats

__all__ = ["count_batch", "instrument_router"]

# seconds: the SDK's default buckets (0 to 10000) are made for milliseconds
_APPEND_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


def count_batch(stats: RouterStats, items: Sequence[Any]) -> None:
    """Records pulled per origin, and what each origin's INGEST still held at its last record's pull."""
    received, last = stats.received, {}
    for it in items:
        received[it.origin] = received.get(it.origin, 0) + 1
        last[it.origin] = it.msg.reply
    for origin, reply in last.items():
        try:
            stats.lag[origin] = ack_pending(reply or "")
        except ValueError:
            pass  # not a JetStream delivery (a test's hand-made message): no lag to read


def instrument_router(meter: Meter, stats: RouterStats) -> Histogram:
    """The router's instruments on ``meter``; returns the append latency histogram the router records."""
    observe(
        meter,
        "samband.router.records",
        "counter",
        "{record}",
        "Records the router pulled from each agency's INGEST stream.",
        lambda: [(n, {"origin": o}) for o, n in dict(stats.received).items()],
    )
    observe(
        meter,
        "samband.router.decisions",
        "counter",
        "{decision}",
        "Routing decisions (one per record and possible recipient), by outcome and the rule that decided.",
        lambda: [(n, {"decision": d, "rule": r}) for (d, r), n in dict(stats.rules).items()],
    )
    observe(
        meter,
        "samband.router.deliveries",
        "counter",
        "{delivery}",
        "Records delivered to a recipient's INBOX (a redelivery the inbox deduplicated not counted).",
        lambda: [(n, {"recipient": a}) for a, n in dict(stats.delivered).items()],
    )
    observe(
        meter,
        "samband.router.dead_letters",
        "counter",
        "{record}",
        "Refused records written back to their origin's DEADLETTER stream.",
        lambda: [(n, {"origin": o}) for o, n in dict(stats.dead_lettered).items()],
    )
    observe(
        meter,
        "samband.router.held",
        "counter",
        "{record}",
        "Records the router set aside: quarantined, parked (a recipient's inbox refused), repeated, refused.",
        lambda: [
            (stats.quarantined, {"reason": "quarantined"}),
            (stats.parked, {"reason": "parked"}),
            (stats.repeats, {"reason": "repeat"}),
            (stats.refused, {"reason": "refused"}),
        ],
    )
    observe(
        meter,
        "samband.router.audit_entries",
        "counter",
        "{entry}",
        "Audit entries the router appended to the log.",
        lambda: [(stats.audited, {})],
    )
    observe(
        meter,
        "samband.router.ingest_lag",
        "gauge",
        "{record}",
        "Records left in an agency's INGEST stream for the router, as of its last pull from it.",
        lambda: [(n, {"origin": o}) for o, n in dict(stats.lag).items()],
    )
    return meter.create_histogram(
        "samband.router.audit_append_duration",
        unit="s",
        description="Time to append one batch's audit entries (one bundle, stored and acknowledged).",
        explicit_bucket_boundaries_advisory=_APPEND_BUCKETS,
    )
