"""The persisted query index: a directory per identity in the state directory, grown batch by batch.

``<state>/audit-index/<identity>/``, 0700:

* ``entries.dat``: the exact stored bytes of every entry indexed, appended (the copy a query
  shows, checked against its leaf hash), one per line;
* ``leaves.dat``: the leaf hash of every entry of the log, 32 bytes each, by index;
* ``index.sqlite3``: where each entry is (``entries``: index, time, the combination of its
  filterable fields, its bundle's stream sequence, offset and length in ``entries.dat``), who
  it is about (``postings``: per subject pseudonym, the indexes, an array per transaction), and how far it
  is indexed (``meta``: tree size, root, the frontier to extend it, the stream sequence of that
  checkpoint, the committed lengths of both files). Lookups (`Lookup` entries) are indexed as
  the combination (identity, -, -, -, ``lookup``, -, action). No secondary index: the console's
  pages (`_paging.py`) walk the primary key newest first, which scans a million rows in ~30 ms,
  where a (combination, time) index cost 65 % more time to build (`samband bench console`).

Why sqlite3 and two flat files: in the standard library (nothing to install on an auditor's
machine); transactional, so a build cut short keeps what it committed (the files are cut back
to the lengths the last commit recorded) and resumes there; a person query is one primary-key
lookup and one range read; appending a million entries is sequential writes plus one row
each, which is what keeps reading 1M entries into it within seconds (`samband bench audit`).
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from array import array
from pathlib import Path
from typing import Unpack

from ._errors import AuditError
from ._index import AuditFilters
from ._rows import RowBuilder
from ._tree import CompactRange

__all__ = ["FIELDS", "FORMAT", "IndexMoved", "IndexStore", "TrailProblem", "index_dir"]

FORMAT = "samband-audit-index/5"
FIELDS = ("origin", "recipient", "region", "operation", "decision", "record_type", "rule")
_NOT_DECISIONS = ("incident", "lookup")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS combos (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, recipient TEXT NOT NULL, region TEXT NOT NULL,
    operation TEXT NOT NULL, decision TEXT NOT NULL, record_type TEXT NOT NULL, rule TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    UNIQUE (origin, recipient, region, operation, decision, record_type, rule));
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY, at REAL NOT NULL, combo INTEGER NOT NULL, seq INTEGER NOT NULL,
    off INTEGER NOT NULL, len INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings (
    subject TEXT NOT NULL, first INTEGER NOT NULL, idxs BLOB NOT NULL, PRIMARY KEY (subject, first)
) WITHOUT ROWID;
"""
_TABLES = ("meta", "combos", "entries", "postings")


def index_dir(state_dir: Path, identity: str) -> Path:
    return Path(state_dir) / "audit-index" / identity


class TrailProblem(AuditError):
    """The log no longer holds what was indexed, or does not hold together: no answer can be vouched for."""

    def __init__(self, kind: str, where: str, detail: str) -> None:
        super().__init__(f"FAILED at {where}: {kind}: {detail}")
        self.kind, self.where, self.detail = kind, where, detail


class IndexMoved(Exception):
    """Another process indexed meanwhile (the caller reloads and goes on)."""


class _Copy(threading.Thread):
    """The exact bytes of a transaction's bundles appended to ``entries.dat`` and its leaf hashes
    to ``leaves.dat``, one write per bundle, beside the thread that builds the rows."""

    def __init__(self, path: Path, bundles: list[tuple[int, bytes, int]], leaves: list[bytes]) -> None:
        super().__init__(name="audit-index-copy", daemon=True)
        self.path, self.bundles, self.leaves = path, bundles, leaves
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open(self.path / "entries.dat", "ab") as f:
                for _, data, start in self.bundles:
                    f.write(memoryview(data)[start:])
                    f.write(b"\n")
            with open(self.path / "leaves.dat", "ab") as f:
                f.write(b"".join(self.leaves))
        except BaseException as exc:  # raised in the transaction's thread by `finish`
            self.error = exc

    def finish(self) -> None:
        """Wait for the copy; its error, if any, is the transaction's."""
        self.join()
        if self.error is not None:
            raise self.error


class IndexStore:
    """One identity's index: ``size``/``root``/``frontier`` say how far the verified log is indexed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # pseudonyms are personal data too
        # one user at a time, but not always the same thread: a build indexes in a worker thread
        self.db = sqlite3.connect(
            self.path / "index.sqlite3", timeout=60, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-65536")
        self.db.executescript(_SCHEMA)
        if self._meta("format", FORMAT) != FORMAT:
            # an index of another version of samband: only a cache of the log, so built again
            self.db.executescript("".join(f"DROP TABLE IF EXISTS {t};" for t in _TABLES) + _SCHEMA)
            self._meta("format", FORMAT)
            for name in ("entries.dat", "leaves.dat"):
                (self.path / name).unlink(missing_ok=True)
        self.reload()

    # ---- state ---------------------------------------------------------------------------
    def _meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None and default is not None:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, default))
            return default
        return row[0] if row else None

    def _set(self, **values) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    def reload(self) -> None:
        self.size = int(self._meta("size") or 0)
        self.stream_seq = int(self._meta("stream_seq") or 0)
        self.root = base64.b64decode(self._meta("root") or "")
        hashes = [base64.b64decode(h) for h in (self._meta("frontier") or "").split(",") if h]
        self.frontier = CompactRange(self.size, hashes)
        self.origin = self._meta("origin") or ""
        self.data_len = int(self._meta("data_len") or 0)
        self.leaves_len = int(self._meta("leaves_len") or 0)
        self.count = int(self._meta("count") or 0)
        # entries' times never went back along the log (a writer's clock): a time window is then an index range
        self.time_ordered = self._meta("time_ordered", "1") == "1"
        self.last_at = float(self._meta("last_at") or "-inf")
        self._combos: dict[tuple[str, ...], int] = {}
        cols = ", ".join(FIELDS)
        self.combo_counts: dict[int, int] = {}
        for row in self.db.execute(f"SELECT id, {cols}, n FROM combos"):
            self._combos[tuple(row[1:-1])] = row[0]
            self.combo_counts[row[0]] = row[-1]
        # what the last commit did not cover is cut off: a build cut short resumes from there
        for name, length in (("entries.dat", self.data_len), ("leaves.dat", self.leaves_len)):
            f = self.path / name
            with open(f, "ab") as fh:
                if fh.tell() > length:
                    fh.truncate(length)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- growing -------------------------------------------------------------------------
    def add(
        self,
        bundles: list[tuple[int, bytes, int]],
        *,
        size: int,
        root: bytes,
        frontier: CompactRange,
        stream_seq: int,
        origin: str,
        leaves: list[bytes],
    ) -> None:
        """Index the entries of ``bundles`` (the stream sequence they were read at, the message, the
        offset of its first entry; entries one per line) and append ``leaves`` (the log's next leaf
        hashes); the log is then indexed up to ``size``. One transaction.

        Each bundle's entries are decoded with one call (`_rows.py`) and copied to ``entries.dat``
        with one write per bundle, never cut out one by one (`samband bench audit`: reading a
        million entries into the index is measured against a target). The copy is written by a
        thread of its own while the rows are built and stored (a write lets go of the GIL): a
        quarter of a cold build's time was these writes, one after the other with the rows.
        The lengths are committed only once both files are written; a copy that fails rolls
        the transaction back, and `reload` cuts the files to the committed lengths."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        copy: _Copy | None = None
        try:
            if int(self._meta("size") or 0) != self.size:
                raise IndexMoved()
            copy = _Copy(self.path, bundles, leaves)
            copy.start()
            rows = RowBuilder(self._combos, self._code, self.last_at)
            off = self.data_len
            for seq, data, start in bundles:
                rows.add(seq, data, start, off)
                off += len(data) - start + 1
            db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows.rows)
            db.executemany("UPDATE combos SET n = n + ? WHERE id = ?", [(k, c) for c, k in rows.per_combo.items()])
            self._post(rows.posting)
            self._set(
                size=size,
                root=base64.b64encode(root).decode(),
                frontier=",".join(base64.b64encode(h).decode() for h in frontier.hashes),
                stream_seq=stream_seq,
                origin=origin,
                data_len=off,
                leaves_len=self.leaves_len + 32 * len(leaves),
                count=self.count + len(rows.rows),
                time_ordered="1" if self.time_ordered and rows.ordered else "0",
                last_at=repr(rows.last_at),
            )
            copy.finish()
            db.execute("COMMIT")
        except BaseException:
            if copy is not None:
                copy.join()  # the files are cut back to the committed lengths once it is done
            db.execute("ROLLBACK")
            self.reload()
            raise
        self.reload()

    def _post(self, posting: dict[str, list[int]]) -> None:
        """Each subject's new indexes as one more row of its posting list, keyed by its first index:
        appended, never read back and rewritten (which was two thirds of the store's sqlite time
        for a million entries, measured apart: 0.29 s against 0.14 s a chunk of 250,000)."""
        rows = [(s, idxs[0], array("Q", idxs).tobytes()) for s, idxs in posting.items()]
        self.db.executemany("INSERT INTO postings VALUES (?, ?, ?)", rows)

    def posting(self, subject: str) -> array:
        """The indexes of the entries about ``subject`` (a keyed pseudonym), in log order."""
        out = array("Q")
        for (idxs,) in self.db.execute("SELECT idxs FROM postings WHERE subject = ? ORDER BY first", (subject,)):
            out.frombytes(idxs)
        return out

    def _code(self, key: tuple[str, ...]) -> int:
        rowid = self.db.execute(
            f"INSERT INTO combos ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})", key
        ).lastrowid
        assert rowid is not None
        self._combos[key] = rowid
        return rowid

    # ---- asking --------------------------------------------------------------------------
    def leaf_hashes_at(self, indexes: list[int]) -> list[bytes | None]:
        """The leaf hash of each index as indexed (None: not indexed)."""
        out: list[bytes | None] = []
        with open(self.path / "leaves.dat", "rb") as f:
            for i in indexes:
                if 0 <= i < self.leaves_len // 32:
                    f.seek(32 * i)
                    out.append(f.read(32))
                else:
                    out.append(None)
        return out

    def leaves(self) -> list[bytes]:
        data = (self.path / "leaves.dat").read_bytes()[: self.leaves_len]
        return [data[i : i + 32] for i in range(0, len(data), 32)]

    def find(self, **filters: Unpack[AuditFilters]) -> list[tuple[int, int, int, int]]:
        """(index, bundle stream seq, offset, length) of the decisions matching every filter, in log order."""
        subject, since, until = filters.get("subject"), filters.get("since"), filters.get("until")
        where: list[str] = ["e.combo IN ({})"]
        args: list[object] = []
        combos = self._matching_combos(filters)
        if not combos:
            return []
        where[0] = where[0].format(",".join("?" * len(combos)))
        args.extend(combos)
        if since is not None:
            where.append("e.at >= ?")
            args.append(since.timestamp())
        if until is not None:
            where.append("e.at <= ?")
            args.append(until.timestamp())
        cond = " AND ".join(where)
        if subject is None:
            sql = f"SELECT e.idx, e.seq, e.off, e.len FROM entries e WHERE {cond} ORDER BY e.idx"
            return self.db.execute(sql, args).fetchall()
        idxs = self.posting(subject)
        if not idxs:
            return []
        out = []
        for k in range(0, len(idxs), 500):
            part = list(idxs[k : k + 500])
            sql = (
                f"SELECT e.idx, e.seq, e.off, e.len FROM entries e WHERE e.idx IN ({','.join('?' * len(part))}) "
                f"AND {cond} ORDER BY e.idx"
            )
            out.extend(self.db.execute(sql, (*part, *args)).fetchall())
        return out

    def _matching_combos(self, filters: AuditFilters) -> list[int]:
        wanted = [filters.get(f) for f in FIELDS]
        return [
            cid
            for key, cid in self._combos.items()
            if key[4] not in ("incident", "lookup")
            and all(w is None or w == v for w, v in zip(wanted, key, strict=True))
        ]

    def read(self, hits: list[tuple[int, int, int, int]]) -> list[bytes]:
        """The stored bytes of ``hits`` from the index's copy."""
        out = []
        with open(self.path / "entries.dat", "rb") as f:
            for _, _, off, length in hits:
                f.seek(off)
                out.append(f.read(length))
        return out
