"""An in-memory index over the log's decisions, built while reading them: person queries answer in O(hits).

Subjects (keyed pseudonyms) and each filterable field's values map to posting lists of
positions; times are kept in log order so a window is two bisections. Incident entries (the
writer's notes, `Incident`) are not decisions and are left out; `audit verify` reports them.
Used for an export read whole (`audit query --file`); the broker's log has the persisted
`IndexStore`.
"""

from __future__ import annotations

import datetime as _dt
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any, TypedDict, Unpack

import msgspec

from ._entry import ENTRY_DECODER, AuditRecord

__all__ = ["INDEX_VIEW", "AuditFilters", "AuditIndex", "IncidentView", "IndexView", "LookupView"]


class IndexView(msgspec.Struct, tag="decision", tag_field="kind", forbid_unknown_fields=False):
    # What both indexes (this one and the persisted `IndexStore`) keep of a decision: unknown
    # fields are skipped on purpose (a fast partial decode); the full, strict entry decoder is
    # used for what a query returns.
    index: int
    at: _dt.datetime
    record_type: str
    origin: str
    recipient: str
    region: str
    operation: str
    decision: str
    rule: str
    subjects: tuple[str, ...] = ()


class IncidentView(msgspec.Struct, tag="incident", tag_field="kind", forbid_unknown_fields=False):
    index: int
    at: _dt.datetime


class LookupView(msgspec.Struct, tag="lookup", tag_field="kind", forbid_unknown_fields=False):
    index: int
    at: _dt.datetime
    identity: str
    action: str


INDEX_VIEW = msgspec.json.Decoder(IndexView | IncidentView | LookupView)


class AuditFilters(TypedDict, total=False):
    """What `audit query` filters on; a filter left out (or None) matches every record."""

    subject: str | None  # a keyed pseudonym
    origin: str | None
    recipient: str | None
    operation: str | None
    region: str | None
    decision: str | None
    record_type: str | None
    rule: str | None
    since: _dt.datetime | None
    until: _dt.datetime | None


_intern = sys.intern


_FIELDS = ("origin", "recipient", "region", "operation", "decision", "record_type", "rule")


class AuditIndex:
    """Positions by subject pseudonym and by each filterable field's value, times for bisecting."""

    def __init__(self, records: Iterable[bytes] = ()) -> None:
        self.records: list[bytes] = []
        self._by_subject: dict[str, array] = {}
        self._by: dict[str, dict[str, array]] = {f: {} for f in _FIELDS}
        self._at = array("d")
        self._time_ordered = True
        for data in records:
            self.add(data)

    def __len__(self) -> int:
        return len(self.records)

    def add(self, data: bytes) -> None:
        view = INDEX_VIEW.decode(data)
        if not isinstance(view, IndexView):
            return
        i = len(self.records)
        self.records.append(data)
        for s in view.subjects:
            pos = self._by_subject.get(s)
            if pos is None:
                pos = self._by_subject[s] = array("L")
            pos.append(i)
        values = (view.origin, view.recipient, view.region, view.operation, view.decision, view.record_type, view.rule)
        for f, value in zip(_FIELDS, values):
            col = self._by[f]
            pos = col.get(value)
            if pos is None:
                pos = col[_intern(value)] = array("L")
            pos.append(i)
        t = view.at.timestamp()
        if self._at and t < self._at[-1]:
            self._time_ordered = False
        self._at.append(t)

    def positions(self, **filters: Unpack[AuditFilters]) -> list[int]:
        """Positions of the records matching every given filter, in trail order.

        Each filter is a posting list; the shortest drives, the others are intersected as sets.
        """
        subject, since, until = filters.get("subject"), filters.get("since"), filters.get("until")
        lists: list = []
        if subject is not None:
            lists.append(self._by_subject.get(subject, ()))
        given: dict[str, Any] = dict(filters)
        for f in _FIELDS:
            value = given.get(f)
            if value is not None:
                lists.append(self._by[f].get(value, ()))
        lo = since.timestamp() if since else None
        hi = until.timestamp() if until else None
        if self._time_ordered and (lo is not None or hi is not None):
            start = bisect_left(self._at, lo) if lo is not None else 0
            stop = bisect_right(self._at, hi) if hi is not None else len(self._at)
            lists.append(range(start, stop))
            lo = hi = None
        if not lists:
            lists.append(range(len(self.records)))
        lists.sort(key=len)
        driver, others = lists[0], [set(x) if not isinstance(x, range) else x for x in lists[1:]]
        at = self._at
        out = []
        for i in driver:
            if (lo is not None and at[i] < lo) or (hi is not None and at[i] > hi):
                continue
            if all(i in o for o in others):
                out.append(i)
        return out

    def query(self, **filters) -> list[AuditRecord]:
        """The matching decisions, decoded (strictly) from their stored bytes."""
        out = []
        for i in self.positions(**filters):
            rec = ENTRY_DECODER.decode(self.records[i])
            assert isinstance(rec, AuditRecord)  # only decisions are indexed
            out.append(rec)
        return out
