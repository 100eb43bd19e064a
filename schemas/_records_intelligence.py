"""Säkerhetspolisen's notes, the Nuc/Ruc situation reports, and the outcomes (utfall) they follow up."""

from __future__ import annotations

import datetime as _dt
from typing import ClassVar, Literal

from ._base import PersonRef, Record, Region, in_order

__all__ = ["IntelligenceNote", "Outcome", "SituationReport"]


class IntelligenceNote(Record, tag="security.intelligence_note", frozen=True, kw_only=True):
    """Always handling-restricted: the envelope must name its recipients (checked by `Envelope`)."""

    note_id: str
    written_on: _dt.date
    classification: str
    summary: str
    persons: tuple[PersonRef, ...] = ()


class SituationReport(Record, tag="intel.situation_report", frozen=True, kw_only=True):
    """Lägesbild from Nuc or a Ruc."""

    report_id: str
    centre: str
    period_from: _dt.date
    period_to: _dt.date
    summary: str
    priority_persons: tuple[PersonRef, ...] = ()

    def __post_init__(self) -> None:
        in_order(self, "period_from", "period_to")


class Outcome(Record, tag="outcome", frozen=True, kw_only=True):
    """Utfall: money recovered or saved by an agency in a region (e.g. region Mitt 2020: 63 MSEK).

    ``category`` is an id from `OUTCOME_CATEGORIES`; the router refuses others (the type stays
    ``str`` so that 1.0 writers still decode). 1.1 added ``status`` (a recovery claim decided,
    or only requested), ``cases`` (how many decisions the amount sums; absent: one) and
    ``source`` (``<record type>:<key>`` of the record an adapter derived it from).
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 1)

    agency: str
    region: Region
    operation: str | None = None
    category: str
    amount_ore: int
    period_from: _dt.date
    period_to: _dt.date
    status: Literal["decided", "requested"] = "decided"
    cases: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        in_order(self, "period_from", "period_to")
