"""Pages of an identity's query index, newest first: what `samband console` shows, a page at a time.

Keyset paging on the index's primary key (the leaf index, which is log order): a page is the
``limit`` entries below a cursor (``before``) or above one (``after``), never an offset, so the
millionth page costs what the first does. The filters are those of `IndexStore.find`; the
person filter walks its posting list, every other filter the combinations that match it, the
time window a predicate on the way. With no secondary index a page of a filter that matches
little scans at most the whole table: a million rows in ~30 ms (`samband bench console`).

What a page shows is the index's copy of each entry, hashed again against its indexed leaf hash
(as `indexed_query` does): a copy changed on disk is named, never shown.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from ._proof import inclusion_proof, verify_inclusion
from ._store import IndexStore, TrailProblem
from ._tree import TreeLevels, leaf_hashes

__all__ = ["MAX_PAGE", "Inclusion", "Page", "Timeline", "inclusion", "lookup_page", "neighbours", "page", "timeline"]

MAX_PAGE = 200
_MAX_INDEX = (1 << 62) - 1  # a cursor beyond any leaf index is clamped, not an error


@dataclass
class Page:
    """``entries`` (stored bytes, newest first) at ``indexes``; ``older``/``newer``: the cursors of the
    pages beside it (None: none there)."""

    entries: list[bytes] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    older: int | None = None
    newer: int | None = None


@dataclass
class Timeline:
    """Counts of the matching decisions per time bucket (``start`` + k * ``width`` seconds), per decision."""

    start: float = 0.0
    width: float = 1.0
    counts: dict[str, list[int]] = field(default_factory=dict)
    total: int = 0
    sampled: bool = False  # the chart is drawn from a sample of the rows
    estimated: bool = False  # and so is the total


@dataclass(frozen=True)
class Inclusion:
    index: int
    size: int
    root: bytes
    leaf: bytes
    path: list[bytes]
    ok: bool


def _clamp(cursor: int | None) -> int | None:
    return None if cursor is None else max(-1, min(int(cursor), _MAX_INDEX))


def _where(store: IndexStore, combos: list[int], filters: dict[str, Any]) -> tuple[str, list[Any]]:
    where: list[str] = [f"combo IN ({','.join('?' * len(combos))})"]
    args: list[Any] = list(combos)
    since, until = filters.get("since"), filters.get("until")
    win = window(store, since, until)
    if win is not None:  # times in order: the window is an index range, a seek instead of a scan
        where.append("idx BETWEEN ? AND ?")
        args.extend(win)
        return " AND ".join(where), args
    if isinstance(since, _dt.datetime):
        where.append("at >= ?")
        args.append(since.timestamp())
    if isinstance(until, _dt.datetime):
        where.append("at <= ?")
        args.append(until.timestamp())
    return " AND ".join(where), args


def _rows(store: IndexStore, combos: list[int], filters: dict[str, Any], before, after, limit: int) -> list[tuple]:
    cond, args = _where(store, combos, filters)
    subject = filters.get("subject")
    if subject is not None:
        idxs = sorted(store.posting(subject), reverse=after is None)
        idxs = [i for i in idxs if (before is None or i < before) and (after is None or i > after)]
        out: list[tuple] = []
        for k in range(0, len(idxs), 500):
            part = idxs[k : k + 500]
            sql = (
                f"SELECT idx, seq, off, len FROM entries WHERE idx IN ({','.join('?' * len(part))}) AND {cond} "
                f"ORDER BY idx {'ASC' if after is not None else 'DESC'}"
            )
            out.extend(store.db.execute(sql, (*part, *args)).fetchall())
            if len(out) > limit:
                break
        return out[: limit + 1]
    if before is not None:
        cond += " AND idx < ?"
        args.append(before)
    if after is not None:
        cond += " AND idx > ?"
        args.append(after)
    order = "ASC" if after is not None else "DESC"
    sql = f"SELECT idx, seq, off, len FROM entries WHERE {cond} ORDER BY idx {order} LIMIT ?"
    return store.db.execute(sql, (*args, limit + 1)).fetchall()


def _checked(store: IndexStore, hits: list[tuple]) -> list[bytes]:
    data = store.read(hits)
    expected = store.leaf_hashes_at([h[0] for h in hits])
    for (idx, *_), want, have in zip(hits, expected, leaf_hashes(data), strict=True):
        if want != have:
            raise TrailProblem(
                "altered", f"entry {idx}", "its stored bytes in the index's copy are not the leaf indexed"
            )
    return data


def _page(store: IndexStore, combos: list[int], filters: dict[str, Any], before, after, limit: int) -> Page:
    limit = max(1, min(int(limit), MAX_PAGE))
    before, after = _clamp(before), _clamp(after)
    if before is not None:
        after = None
    if not combos:
        return Page()
    rows = _rows(store, combos, filters, before, after, limit)
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()  # asked upwards, shown newest first
    out = Page(entries=_checked(store, rows), indexes=[r[0] for r in rows])
    if rows:
        top, bottom = rows[0][0], rows[-1][0]
        if after is not None:  # came up from an older page: there is one below, and one above if more
            out.older, out.newer = bottom, top if more else None
        else:
            out.older, out.newer = bottom if more else None, top if before is not None else None
    return out


def page(
    store: IndexStore, *, before: int | None = None, after: int | None = None, limit: int = 50, **filters: Any
) -> Page:
    """The decisions matching ``filters`` (those of `IndexStore.find`) below ``before`` (or above
    ``after``), at most ``limit`` (capped at `MAX_PAGE`), newest first."""
    return _page(store, store._matching_combos(filters), filters, before, after, limit)  # type: ignore[arg-type]


def lookup_page(
    store: IndexStore, identity: str | None, *, before: int | None = None, after: int | None = None, limit: int = 50
) -> Page:
    """The lookups (person searches, exports) of ``identity`` (None: everyone's the index holds)."""
    combos = [cid for key, cid in store._combos.items() if key[4] == "lookup" and identity in (None, key[0])]
    return _page(store, combos, {}, before, after, limit)


SAMPLE_ABOVE = 20_000  # matches expected above this: the chart is drawn from a sample of the rows
SAMPLES = 2048


def _span(store: IndexStore) -> tuple[int, int] | None:
    # two queries: sqlite answers min() or max() alone from the primary key, both at once by a scan
    lo = store.db.execute("SELECT min(idx) FROM entries").fetchone()[0]
    hi = store.db.execute("SELECT max(idx) FROM entries").fetchone()[0]
    return None if lo is None else (lo, hi)


def _first_at_or_after(store: IndexStore, lo: int, hi: int, t: float) -> int:
    """The smallest index in lo..hi+1 whose entry is at or after ``t`` (entries in time order: a bisection
    over the primary key, a few dozen seeks)."""
    while lo <= hi:
        mid = (lo + hi) // 2
        row = store.db.execute("SELECT idx, at FROM entries WHERE idx >= ? ORDER BY idx LIMIT 1", (mid,)).fetchone()
        if row is None or row[0] > hi or row[1] >= t:
            hi = mid - 1
        else:
            lo = row[0] + 1
    return lo


def window(store: IndexStore, since: _dt.datetime | None, until: _dt.datetime | None) -> tuple[int, int] | None:
    """The index range of a time window, when the log's times are in order (None: they are not, or no window)."""
    if (since is None and until is None) or not store.time_ordered:
        return None
    span = _span(store)
    if span is None:
        return (0, -1)
    a = _first_at_or_after(store, span[0], span[1], since.timestamp()) if since else span[0]
    b = _first_at_or_after(store, span[0], span[1], until.timestamp() + 1e-6) - 1 if until else span[1]
    return a, b


def timeline(store: IndexStore, buckets: int = 48, **filters: Any) -> Timeline:
    """How many decisions match ``filters``, per time bucket and decision (allow, deny). Exact for a person
    and for filters that match little; drawn from a sample of the rows for ones that match much
    (``estimated`` then says whether the total is counted or estimated too)."""
    combos = store._matching_combos(filters)  # type: ignore[arg-type]
    if not combos:
        return Timeline()
    decision = {cid: key[4] for key, cid in store._combos.items()}
    since, until = filters.get("since"), filters.get("until")
    span = _span(store)
    if span is None:
        return Timeline()
    win = window(store, since, until)
    expected = sum(store.combo_counts.get(c, 0) for c in combos)
    if win is not None:
        expected = int(expected * max(0, win[1] - win[0] + 1) / max(1, span[1] - span[0] + 1))
    if filters.get("subject") is None and expected > SAMPLE_ABOVE and ((since is None and until is None) or win):
        return _sampled(store, combos, decision, win or span, buckets, exact=None if win else expected)
    return _exact(store, combos, decision, filters, buckets)


def _sampled(store, combos, decision, span, buckets, exact) -> Timeline:
    a, b = span
    if b < a:
        return Timeline()
    step = max(1, (b - a + 1) // SAMPLES)
    wanted = set(combos)
    rows: list[tuple[float, int]] = []
    idxs = list(range(a, b + 1, step))
    for k in range(0, len(idxs), 500):
        part = idxs[k : k + 500]
        sql = f"SELECT at, combo FROM entries WHERE idx IN ({','.join('?' * len(part))})"
        rows.extend(store.db.execute(sql, part).fetchall())
    if not rows:
        return Timeline()
    in_span = store.db.execute("SELECT count(*) FROM entries WHERE idx BETWEEN ? AND ?", (a, b)).fetchone()[0]
    weight = in_span / len(rows)
    lo, hi = min(t for t, _ in rows), max(t for t, _ in rows)
    width = max((hi - lo) / buckets, 1.0)
    out = Timeline(start=lo, width=width, estimated=exact is None, sampled=True)
    counts: dict[str, list[float]] = {}
    for t, combo in rows:
        if combo in wanted:
            k = max(0, min(int((t - lo) / width), buckets - 1))
            counts.setdefault(decision.get(combo, "?"), [0.0] * buckets)[k] += weight
    out.counts = {d: [round(x) for x in v] for d, v in counts.items()}
    out.total = exact if exact is not None else sum(sum(v) for v in out.counts.values())
    return out


def _exact(store, combos, decision, filters, buckets) -> Timeline:
    cond, args = _where(store, combos, filters)
    subject = filters.get("subject")
    if subject is not None:
        idxs = list(store.posting(subject))
        if not idxs:
            return Timeline()
        cond += f" AND idx IN ({','.join(str(int(i)) for i in idxs[:5000])})"
    # the span from the oldest and the newest match by index (two short walks of the primary key, not a
    # scan); entries are in time order but for a writer's clock, so a bucket index is clamped both ways
    first = store.db.execute(f"SELECT at FROM entries WHERE {cond} ORDER BY idx ASC LIMIT 1", args).fetchone()
    if first is None:
        return Timeline()
    last = store.db.execute(f"SELECT at FROM entries WHERE {cond} ORDER BY idx DESC LIMIT 1", args).fetchone()
    lo, hi = min(first[0], last[0]), max(first[0], last[0])
    width = max((hi - lo) / buckets, 1.0)
    if hi - lo < buckets:  # a short span (one batch): one bucket per second, no empty axis beyond it
        buckets = int(hi - lo) + 1
    out = Timeline(start=lo, width=width)
    sql = (
        f"SELECT combo, MAX(0, MIN(CAST((at - ?) / ? AS INTEGER), ?)), count(*) FROM entries WHERE {cond} GROUP BY 1, 2"
    )
    for combo, k, n in store.db.execute(sql, (lo, width, buckets - 1, *args)):
        series = out.counts.setdefault(decision.get(combo, "?"), [0] * buckets)
        series[k] += n
        out.total += n
    return out


def neighbours(store: IndexStore, index: int, span: int = 256) -> list[bytes]:
    """The indexed entries within ``span`` leaves of ``index``, in log order: one record's decisions are
    appended in one batch, so they stand together (`samband console`'s story of a record)."""
    index = max(0, min(int(index), _MAX_INDEX))
    rows = store.db.execute(
        "SELECT idx, seq, off, len FROM entries WHERE idx BETWEEN ? AND ? ORDER BY idx", (index - span, index + span)
    ).fetchall()
    return _checked(store, rows)


def inclusion(store: IndexStore, index: int) -> Inclusion | None:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree indexed (its signed checkpoint's size and
    root), made from the index's leaf hashes and checked (None: not a leaf of it)."""
    size = store.size
    if not 0 <= index < size:
        return None
    with open(store.path / "leaves.dat", "rb") as f:
        data = f.read(32 * size)
    leaves = [data[i : i + 32] for i in range(0, len(data), 32)]
    if len(leaves) != size:
        return None
    levels = TreeLevels(leaves)
    path = inclusion_proof(index, size, levels.subtree)
    leaf = leaves[index]
    return Inclusion(index, size, store.root, leaf, path, verify_inclusion(index, size, leaf, path, store.root))
