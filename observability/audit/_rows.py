"""One bundle's entries as rows of the query index (`_store.py`), the index's hot loop.

A bundle of decisions only is decoded with one call (msgspec's ``decode_lines``) and turned into
rows column by column (``map`` over attribute getters, ``zip`` into tuples): no Python bytecode
runs per entry but the posting of its subjects. Anything else (lookups, incidents, a line that
is not one entry) takes the entry-by-entry loop, which gives the same rows. Measured with
`samband bench audit` (reading a million entries into the index has a target): the loop cost
~2 µs of Python per entry, two thirds of the store's time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import accumulate, islice, repeat
from operator import add, attrgetter, gt, itemgetter, methodcaller
from typing import cast

from ._index import INDEX_VIEW, IndexView, LookupView

__all__ = ["INCIDENT_KEY", "RowBuilder"]

INCIDENT_KEY = ("-", "-", "-", "-", "incident", "-", "-")

_KEY = attrgetter("origin", "recipient", "region", "operation", "decision", "record_type", "rule")
_INDEX = attrgetter("index")
_AT = attrgetter("at")
_SUBJECTS = attrgetter("subjects")
_FIRST = itemgetter(0)
_TIMESTAMP = methodcaller("timestamp")

Row = tuple[int, float, int, int, int, int]  # (index, at, combination, bundle seq, offset, length)


class RowBuilder:
    """The rows, postings and per-combination counts of the bundles given to `add`, in order."""

    def __init__(self, combos: dict[tuple[str, ...], int], code: Callable[[tuple[str, ...]], int], last_at: float):
        self.combos, self.code = combos, code
        self.rows: list[Row] = []
        self.posting: defaultdict[str, list[int]] = defaultdict(list)
        self.per_combo: Counter[int] = Counter()
        self.last_at = last_at
        self.ordered = True  # every entry's time at or after the one before it

    def add(self, seq: int, data: bytes, start: int, offset: int) -> None:
        """The entries of ``data`` from ``start`` (one a line), the first at ``offset`` in the index's copy."""
        views = INDEX_VIEW.decode_lines(memoryview(data)[start:])
        lens = list(map(len, data.split(b"\n")))
        if data.find(b"\n") + 1 != start or len(lens) != len(views) + 1 or set(map(type, views)) != {IndexView}:
            self._one_by_one(seq, data, start, offset)
            return
        del lens[0]  # the bundle's header
        idx = list(map(_INDEX, views))
        ats = list(map(_TIMESTAMP, map(_AT, views)))
        keys = list(map(_KEY, views))
        known = list(map(self.combos.get, keys))
        cids = (
            cast(list[int], known)
            if None not in known
            else [c if c is not None else self.combos.get(k) or self.code(k) for c, k in zip(known, keys, strict=True)]
        )
        self.per_combo.update(cids)
        if ats[0] < self.last_at or any(map(gt, ats, islice(ats, 1, None))):
            self.ordered = False
        self.last_at = max(self.last_at, *ats)
        posting = self.posting
        subjects = list(map(_SUBJECTS, views))
        if all(map((1).__eq__, map(len, subjects))):  # one person a decision, the usual case
            for s, i in zip(map(_FIRST, subjects), idx, strict=True):
                posting[s].append(i)
        else:
            for i, many in zip(idx, subjects, strict=True):
                for s in many:
                    posting[s].append(i)
        offsets = accumulate(map(add, lens, repeat(1)), initial=offset)
        self.rows.extend(zip(idx, ats, cids, repeat(seq), offsets, lens))

    def _one_by_one(self, seq: int, data: bytes, start: int, offset: int) -> None:
        decode, combos, code, posting = INDEX_VIEW.decode, self.combos, self.code, self.posting
        mv, find, pos = memoryview(data), data.find, start
        base = offset - start
        while True:
            end = find(b"\n", pos)
            stop = len(data) if end < 0 else end
            view = decode(mv[pos:stop])
            if isinstance(view, IndexView):
                key = _KEY(view)
                for s in view.subjects:
                    posting[s].append(view.index)
            elif isinstance(view, LookupView):
                key = (view.identity, "-", "-", "-", "lookup", "-", view.action)
            else:
                key = INCIDENT_KEY
            combo = combos.get(key) or code(key)
            at = view.at.timestamp()
            if at < self.last_at:
                self.ordered = False
            self.last_at = max(self.last_at, at)
            self.per_combo[combo] += 1
            self.rows.append((view.index, at, combo, seq, base + pos, stop - pos))
            if end < 0:
                break
            pos = end + 1
