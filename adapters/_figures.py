"""Synthetic outcome events that add up to the seeds' published figures, to the öre.

Two figure sets, each a region, an operation, a period and the results per agency and
category as the source documents give them:

* ``mitt-2020``: region Mitt's 2020 results (seed 004): 63 MSEK.
* ``bacchus-2017``: Operation Bacchus's money results in the 2017 report (seed 000, section 6).

`figure_events` spreads one agency's figures over the period as events: records the agency's
adapter already sends (reassessments, recovery claims, stopped payments, distraints, payment
securities: each the outcome derived from it) where its export has such a record, and rows of
the outcome export (`_utfall`) for the rest. Amounts are whole kronor, split at random points
(the seed picks them), so the events differ between seeds and always sum to the figure.
"""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any, NamedTuple

from ._mapping import AgencyMapping
from ._utfall import outcome_row

__all__ = ["FIGURES", "FigureLine", "FigureSet", "figure_events"]


class FigureLine(NamedTuple):
    agency: str
    category: str
    amount_ore: int
    status: str = "decided"
    cases: int | None = None  # when the source counts the decisions (5 recovery claims, 1 056 fines)


class FigureSet(NamedTuple):
    title: str
    region: str
    operation: str
    start: _dt.date
    end: _dt.date
    lines: tuple[FigureLine, ...]


MSEK = 100_000_000  # öre
FIGURES: dict[str, FigureSet] = {
    # "Region Mitts resultat i siffror (2020)": 63 miljoner kronor. The seized 9,3 MSEK (cash and
    # valuables in large cases) are Polisen's; the source names no agency for them.
    "mitt-2020": FigureSet(
        "Region Mitt 2020 (seed 004)",
        "mitt",
        "samverkan-mitt",
        _dt.date(2020, 1, 1),
        _dt.date(2020, 12, 31),
        (
            FigureLine("skatteverket", "tax_reassessment", 205 * MSEK // 10),
            FigureLine("forsakringskassan", "recovery_claim", 204 * MSEK // 10),
            FigureLine("forsakringskassan", "stopped_payment", 93 * MSEK // 10),
            FigureLine("arbetsformedlingen", "stopped_payment", 25 * MSEK // 10),
            FigureLine("polisen", "seizure", 93 * MSEK // 10),
            FigureLine("kronofogden", "distraint", 1 * MSEK),
        ),
    ),
    # "Exempel på åtgärder som hittills vidtagits av myndigheterna under insatsen" (first half of 2017).
    "bacchus-2017": FigureSet(
        "Operation Bacchus 2017 (seed 000, section 6)",
        "syd",
        "bacchus-2017",
        _dt.date(2017, 1, 9),
        _dt.date(2017, 6, 30),
        (
            FigureLine("polisen", "fine", 32 * MSEK // 10, cases=1056),  # ordningsförelägganden, 1 056 personer
            FigureLine("tullverket", "transport_surcharge", 675_000_00),
            FigureLine("kronofogden", "collection", 100_000_00),
            FigureLine("kronofogden", "payment_security", 35_000_00, cases=1),  # ett bussläp
            FigureLine("skatteverket", "tax_reassessment", 6 * MSEK),  # alkoholskatt
            FigureLine("forsakringskassan", "recovery_claim", 15 * MSEK // 10, cases=5),
            FigureLine("arbetsformedlingen", "recovery_claim", 81_000_00),
            FigureLine("arbetsformedlingen", "recovery_claim", 500_000_00, status="requested"),
        ),
    ),
}


def _split(total: int, parts: int, rng: random.Random, unit: int = 1) -> list[int]:
    """``parts`` positive multiples of ``unit`` (the last takes any remainder) that sum to ``total`` exactly."""
    units, rest = divmod(total, unit)
    parts = max(1, min(parts, units))
    cuts = sorted(rng.sample(range(1, units), parts - 1)) if parts > 1 else []
    amounts = [(b - a) * unit for a, b in zip([0, *cuts], [*cuts, units])]
    amounts[-1] += rest
    return amounts


def _days(start: _dt.date, end: _dt.date, n: int, rng: random.Random) -> list[_dt.date]:
    """``n`` days spread over [start, end], in order."""
    span = (end - start).days + 1
    step = max(1, span // n)
    return [min(end, start + _dt.timedelta(days=i * span // n + rng.randrange(step))) for i in range(n)]


def figure_events(
    mapping: AgencyMapping, figures: str, rng: random.Random, n: int
) -> tuple[list[Any], list[dict[str, str]]]:
    """One agency's events for figure set ``figures``: (native records, outcome-export rows).

    A figure becomes ``n`` events, or one record per decision the source counts (5 recovery
    claims); a mapping module lists in ``OUTCOME_EVENTS`` the categories its own records carry
    (and builds them with ``outcome_event``), everything else goes to the outcome export.
    """
    fs = FIGURES[figures]
    agency = mapping.agency
    # one stream of randomness per figure set and agency: native keys (the publish dedupe ids) of two
    # figure sets sampled with one seed must not collide
    rng = random.Random(f"{figures}/{agency}/{rng.getrandbits(64)}")
    own = getattr(mapping, "OUTCOME_EVENTS", ())
    natives: list[Any] = []
    rows: list[dict[str, str]] = []
    for line in (ln for ln in fs.lines if ln.agency == agency):
        if line.category in own and line.status == "decided":  # one record per decision
            amounts = _split(line.amount_ore, line.cases or n, rng, unit=100)
            days = _days(fs.start, fs.end, len(amounts), rng)
            natives += [
                mapping.outcome_event(  # type: ignore[attr-defined]
                    rng, line.category, amount, day, region=fs.region, operation=fs.operation
                )
                for amount, day in zip(amounts, days)
            ]
            continue
        amounts = _split(line.amount_ore, min(n, line.cases or n), rng, unit=100)
        cases = _split(line.cases, len(amounts), rng) if line.cases is not None else [None] * len(amounts)
        days = _days(fs.start, fs.end, len(amounts), rng)
        for amount, count, day in zip(amounts, cases, days):
            rows.append(
                outcome_row(
                    f"{agency[:3].upper()}-U-{rng.getrandbits(40):010X}",
                    agency,
                    region=fs.region,
                    operation=fs.operation,
                    category=line.category,
                    amount_ore=amount,
                    period=(max(fs.start, day.replace(day=1)), day),  # the month up to the day it was reported
                    status=line.status,
                    cases=count,
                )
            )
    return natives, rows
