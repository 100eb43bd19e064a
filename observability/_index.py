"""An in-memory index over audit records, built while reading them: person queries answer in O(hits).

Subjects (keyed pseudonyms) map to positions; the low-cardinality fields are kept as
interned columns so other filters scan without decoding a record again.
"""

from __future__ import annotations

import datetime as _dt
import sys
from array import array
from collections.abc import Iterable

import msgspec

from ._audit import AUDIT_DECODER, AuditRecord

__all__ = ["AuditIndex"]


class _View(msgspec.Struct, forbid_unknown_fields=False):
    # A partial view for indexing only: unknown fields are skipped on purpose (fast decode);
    # the full, strict `AuditRecord` decoder is used for what a query returns.
    at: _dt.datetime
    origin: str
    recipient: str
    region: str
    operation: str
    decision: str
    subjects: tuple[str, ...] = ()


_VIEW = msgspec.json.Decoder(_View)
_intern = sys.intern


class AuditIndex:
    """Positions by subject pseudonym plus a column per filterable field."""

    def __init__(self, records: Iterable[bytes] = ()) -> None:
        self.records: list[bytes] = []
        self._by_subject: dict[str, array] = {}
        self._at = array("d")
        self._origin: list[str] = []
        self._recipient: list[str] = []
        self._region: list[str] = []
        self._operation: list[str] = []
        self._decision: list[str] = []
        for data in records:
            self.add(data)

    def __len__(self) -> int:
        return len(self.records)

    def add(self, data: bytes) -> None:
        view = _VIEW.decode(data)
        i = len(self.records)
        self.records.append(data)
        for s in view.subjects:
            pos = self._by_subject.get(s)
            if pos is None:
                pos = self._by_subject[s] = array("L")
            pos.append(i)
        self._at.append(view.at.timestamp())
        self._origin.append(_intern(view.origin))
        self._recipient.append(_intern(view.recipient))
        self._region.append(_intern(view.region))
        self._operation.append(_intern(view.operation))
        self._decision.append(_intern(view.decision))

    def positions(
        self,
        *,
        subject: str | None = None,
        origin: str | None = None,
        recipient: str | None = None,
        operation: str | None = None,
        region: str | None = None,
        decision: str | None = None,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
    ) -> list[int]:
        """Positions of the records matching every given filter, in trail order."""
        candidates: Iterable[int]
        if subject is not None:
            candidates = self._by_subject.get(subject, ())
        else:
            candidates = range(len(self.records))
        checks = [(col, val) for col, val in (
            (self._origin, origin), (self._recipient, recipient), (self._operation, operation),
            (self._region, region), (self._decision, decision),
        ) if val is not None]
        lo = since.timestamp() if since else None
        hi = until.timestamp() if until else None
        at = self._at
        out = []
        for i in candidates:
            if lo is not None and at[i] < lo:
                continue
            if hi is not None and at[i] > hi:
                continue
            if all(col[i] == val for col, val in checks):
                out.append(i)
        return out

    def query(self, **filters) -> list[AuditRecord]:
        """The matching records, decoded (strictly) from their stored bytes."""
        return [AUDIT_DECODER.decode(self.records[i]) for i in self.positions(**filters)]
