"""The persisted audit index: one sqlite3 file in the state directory, grown record by record.

Why sqlite3: it is in the standard library (nothing to install on an auditor's machine), one
file, transactional (a build cut short keeps every batch it committed and resumes there),
safe with two `samband audit query` at once (WAL, one writer), and a person query is one
primary-key range scan. It holds what finds a record (sequence, time, the filterable fields,
the subjects' pseudonyms), each record's sha256, and a copy of its exact stored bytes as
read from the stream (table ``stored``): a query shows those bytes, checked against the
hash, without asking the broker for each hit (see "Query" in docs/audit.md for why).

Records are added only where they continue the chain from the last one indexed (each
``prev`` is the hash of the one before, the first ``GENESIS``) and their sequence follows;
anything else raises `TrailProblem` and nothing of that batch is kept.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Unpack

import msgspec

from ._errors import AuditError
from ._index import INDEX_VIEW, AuditFilters
from ._record import GENESIS, PREV_SLICE

__all__ = ["FIELDS", "INDEX_FILE", "IndexMoved", "IndexStore", "TrailProblem"]

INDEX_FILE = "audit-index.sqlite3"
FORMAT = "samband-audit-index/2"
FIELDS = ("origin", "recipient", "region", "operation", "decision")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vals (
    id INTEGER PRIMARY KEY, field TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (field, value)
);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, origin INTEGER NOT NULL, recipient INTEGER NOT NULL,
    region INTEGER NOT NULL, operation INTEGER NOT NULL, decision INTEGER NOT NULL, sha256 BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    subject TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (subject, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stored (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
_TABLES = ("meta", "vals", "records", "subjects", "stored")


class TrailProblem(AuditError):
    """The trail no longer holds what was indexed, or does not chain: no answer can be vouched for."""

    def __init__(self, kind: str, seq: int, detail: str) -> None:
        super().__init__(f"FAILED at seq {seq}: {kind}: {detail}")
        self.kind, self.seq, self.detail = kind, seq, detail


class IndexStore:
    """The index file: ``last_seq``/``head`` say how far the verified chain has been indexed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        fresh = not self.path.exists()
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)  # pseudonyms are personal data too
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: the subjects tree grows by random inserts
        self.db.executescript(_SCHEMA)
        if self._meta("format", FORMAT) != FORMAT:
            # an index of another version of samband: it is only a cache of the trail, so it
            # is built again (from the trail, checking it as always)
            self.db.executescript("".join(f"DROP TABLE IF EXISTS {t};" for t in _TABLES) + _SCHEMA)
            self._meta("format", FORMAT)
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
        self.last_seq = int(self._meta("last_seq") or 0)
        self.head = self._meta("head") or GENESIS
        self.checkpoint_next = int(self._meta("checkpoint_next") or 1)  # next AUDIT_CHECKPOINTS stream seq to check
        self.checkpoints = int(self._meta("checkpoints") or 0)
        self.stream_created = self._meta("stream_created")
        self._ids: dict[str, dict[str, int]] = {f: {} for f in FIELDS}
        self._combos: dict[tuple[str, ...], tuple[int, ...]] = {}
        for id_, field, value in self.db.execute("SELECT id, field, value FROM vals"):
            self._ids[field][value] = id_

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def note_stream(self, created: str) -> None:
        self._set(stream_created=created)
        self.stream_created = created

    # ---- growing -------------------------------------------------------------------------
    def add(self, first_seq: int, records: list[bytes]) -> None:
        """Index ``records`` (stored bytes of seq ``first_seq``, ``first_seq + 1``, ...), which must
        continue the chain from ``head``; one transaction, nothing kept if any link fails."""
        if not records:
            return
        if first_seq != self.last_seq + 1:
            raise ValueError(f"Expected records from seq {self.last_seq + 1}, got from seq {first_seq}")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(self._meta("last_seq") or 0) != self.last_seq:
                raise IndexMoved()
            new = hashlib.sha256().copy
            decode = INDEX_VIEW.decode
            combos, code = self._combos, self._code
            rows: list[tuple] = []
            subjects: list[tuple[str, int]] = []
            copies: list[tuple[int, bytes]] = []
            row, subject, copy = rows.append, subjects.append, copies.append
            head = self.head.encode()
            seq = first_seq
            for data in records:
                if data[PREV_SLICE] != head:
                    raise self._problem(records, first_seq)
                try:
                    v = decode(data)
                except msgspec.DecodeError:
                    raise self._problem(records, first_seq) from None
                if v.seq != seq:
                    raise self._problem(records, first_seq)
                h = new()
                h.update(data)
                digest = h.digest()
                head = digest.hex().encode()
                key = (v.origin, v.recipient, v.region, v.operation, v.decision)
                coded = combos.get(key) or code(key)
                row((seq, v.at.timestamp(), *coded, digest))
                copy((seq, data))
                for s in v.subjects:
                    subject((s, seq))
                seq += 1
            db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            subjects.sort()  # in key order: the tree is walked once per batch, not once per row
            db.executemany("INSERT INTO subjects VALUES (?, ?)", subjects)
            db.executemany("INSERT INTO stored VALUES (?, ?)", copies)
            self._set(last_seq=seq - 1, head=head.decode())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self.reload()
            raise
        self.last_seq, self.head = seq - 1, head.decode()

    def _code(self, key: tuple[str, ...]) -> tuple[int, ...]:
        """The value ids of one combination of field values, adding the values not seen yet."""
        coded: list[int] = []
        for field, value in zip(FIELDS, key, strict=True):
            col = self._ids[field]
            id_ = col.get(value)
            if id_ is None:
                rowid = self.db.execute("INSERT INTO vals (field, value) VALUES (?, ?)", (field, value)).lastrowid
                assert rowid is not None  # an INSERT into a rowid table always has one
                id_ = col[value] = rowid
            coded.append(id_)
        self._combos[key] = tuple(coded)
        return self._combos[key]

    def _problem(self, records: list[bytes], first_seq: int) -> TrailProblem:
        from ._verify import locate

        p = locate(records, self.head.encode(), first_seq)
        return TrailProblem(p.kind, p.seq, p.detail)

    def checked_checkpoint(self, stream_seq: int) -> None:
        """AUDIT_CHECKPOINTS up to ``stream_seq`` were checked against the index."""
        self.checkpoints += 1
        self._set(checkpoint_next=stream_seq + 1, checkpoints=self.checkpoints)
        self.checkpoint_next = stream_seq + 1

    # ---- asking --------------------------------------------------------------------------
    def sha256(self, seq: int) -> bytes | None:
        row = self.db.execute("SELECT sha256 FROM records WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def find(self, *, copies: bool = True, **filters: Unpack[AuditFilters]) -> list[tuple[int, bytes, bytes | None]]:
        """(seq, sha256, stored bytes or None without ``copies``) of the records matching every
        filter given, in trail order."""
        subject, since, until = filters.get("subject"), filters.get("since"), filters.get("until")
        origin, recipient, region = filters.get("origin"), filters.get("recipient"), filters.get("region")
        operation, decision = filters.get("operation"), filters.get("decision")
        where: list[str] = []
        args: list[object] = []
        for field, value in zip(FIELDS, (origin, recipient, region, operation, decision)):
            if value is not None:
                id_ = self._ids[field].get(value)
                if id_ is None:
                    return []
                where.append(f"r.{field} = ?")
                args.append(id_)
        if since is not None:
            where.append("r.at >= ?")
            args.append(since.timestamp())
        if until is not None:
            where.append("r.at <= ?")
            args.append(until.timestamp())
        data, join = ("c.data", " JOIN stored c ON c.seq = r.seq") if copies else ("NULL", "")
        if subject is not None:
            sql = (
                f"SELECT r.seq, r.sha256, {data} FROM subjects s JOIN records r ON r.seq = s.seq{join} "
                "WHERE s.subject = ?"
            )
            args.insert(0, subject)
            sql += "".join(f" AND {w}" for w in where)
        else:
            sql = f"SELECT r.seq, r.sha256, {data} FROM records r{join}" + (
                " WHERE " + " AND ".join(where) if where else ""
            )
        return self.db.execute(sql + " ORDER BY r.seq", args).fetchall()


class IndexMoved(Exception):
    """Another process indexed the same records first (the caller reloads and goes on)."""
