"""Reading the trail back: from the AUDIT streams, and to/from an export file for offline checking.

An export file is JSON lines: a header (format, range, the public key), then every record as
its exact stored bytes (each starts ``{"prev":``), then the checkpoints as stored (each starts
``{"seq":``). Nothing is re-encoded, so the file hashes exactly as the stream does.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas.layout import AUDIT_CHECKPOINT_STREAM, AUDIT_STREAM

from ..bus import ReadError, read_range
from ._checkpoint import CHECKPOINT_DECODER, Checkpoint, load_public_key
from ._errors import AuditError, AuditUnavailable

__all__ = [
    "EXPORT_FORMAT",
    "ExportError",
    "Trail",
    "read_export",
    "read_stream",
    "read_trail",
    "slice_trail",
    "write_export",
]

EXPORT_FORMAT = "samband-audit-export/1"


class ExportError(AuditError):
    """An export file that cannot be read as one."""


class _Header(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format: str
    exported_at: _dt.datetime
    first_seq: int
    last_seq: int
    records: int
    checkpoints: int
    public_key: str
    since: _dt.datetime | None = None
    until: _dt.datetime | None = None


_HEADER = msgspec.json.Decoder(_Header)


@dataclass
class Trail:
    """Records and checkpoints as stored (exact bytes), and the public key if known."""

    records: list[bytes] = field(default_factory=list)
    checkpoints: list[bytes] = field(default_factory=list)
    public_key_pem: bytes | None = None
    since: _dt.datetime | None = None
    until: _dt.datetime | None = None

    def decoded_checkpoints(self) -> list[Checkpoint]:
        return [CHECKPOINT_DECODER.decode(c) for c in self.checkpoints]

    def public_key(self):
        return load_public_key(self.public_key_pem) if self.public_key_pem else None


async def read_stream(nc, stream: str, *, start_seq: int = 1, with_subjects: bool = False) -> list:
    """Every message of ``stream`` from ``start_seq`` (or its first) to its current last, in order, as
    stored bytes (or ``(subject, bytes)`` pairs with ``with_subjects``)."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(stream)
    except (TimeoutError, JsError, NatsError) as exc:
        raise AuditUnavailable(f"Expected to read stream {stream}, got {exc!r}") from exc
    last = info.state.last_seq
    if info.state.messages == 0 or last < start_seq:
        return []
    try:
        return await read_range(
            nc,
            stream,
            max(start_seq, info.state.first_seq),
            last,
            with_subjects=with_subjects,
            strict=stream in (AUDIT_STREAM, AUDIT_CHECKPOINT_STREAM),
        )
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc


async def read_trail(nc, *, public_key_pem: bytes | None = None) -> Trail:
    """The whole trail from the broker: AUDIT and AUDIT_CHECKPOINTS."""
    records = await read_stream(nc, AUDIT_STREAM)
    try:
        checkpoints = await read_stream(nc, AUDIT_CHECKPOINT_STREAM)
    except AuditUnavailable as exc:
        if not isinstance(exc.__cause__, NotFoundError):
            raise
        checkpoints = []
    return Trail(records, checkpoints, public_key_pem)


def write_export(path: Path, trail: Trail) -> int:
    """Write ``trail`` as an export file; returns the number of records written."""
    from ._verify import record_seq

    if trail.public_key_pem is None:
        raise ExportError("Expected the checkpoint public key to put in the export, got none")
    header = _Header(
        format=EXPORT_FORMAT,
        exported_at=_dt.datetime.now(_dt.UTC),
        first_seq=record_seq(trail.records[0]) if trail.records else 0,
        last_seq=record_seq(trail.records[-1]) if trail.records else 0,
        records=len(trail.records),
        checkpoints=len(trail.checkpoints),
        public_key=trail.public_key_pem.decode(),
        since=trail.since,
        until=trail.until,
    )
    with open(path, "wb") as f:
        f.write(msgspec.json.encode(header) + b"\n")
        for data in trail.records:
            f.write(data + b"\n")
        for data in trail.checkpoints:
            f.write(data + b"\n")
    return len(trail.records)


def read_export(path: Path) -> Trail:
    """Read an export file back, record bytes untouched. The header's counts are not trusted."""
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except OSError as exc:
        raise ExportError(f"Expected an audit export at {path}, could not read it: {exc.strerror}") from exc
    if not lines or not lines[0].startswith(b'{"format":'):
        raise ExportError(f"Expected an audit export ({EXPORT_FORMAT}) at {path}, got no header on line 1")
    try:
        header = _HEADER.decode(lines[0])
    except msgspec.DecodeError as exc:
        raise ExportError(f"Expected an audit export header on line 1 of {path}: {exc}") from exc
    if header.format != EXPORT_FORMAT:
        raise ExportError(f"Expected format `{EXPORT_FORMAT}`, got `{header.format}` - at line 1 of {path}")
    trail = Trail(public_key_pem=header.public_key.encode(), since=header.since, until=header.until)
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        if line.startswith(b'{"prev":'):
            trail.records.append(line)
        elif line.startswith(b'{"seq":'):
            trail.checkpoints.append(line)
        else:
            raise ExportError(f"Expected an audit record or a checkpoint, got {line[:20]!r}… - at line {n} of {path}")
    return trail


class _At(msgspec.Struct, forbid_unknown_fields=False):
    # Only the time is needed to slice; the rest of the record is skipped on purpose.
    at: _dt.datetime


_AT = msgspec.json.Decoder(_At)


def slice_trail(trail: Trail, since: _dt.datetime | None, until: _dt.datetime | None) -> Trail:
    """The records whose time lies in [since, until], widened to the signed checkpoints around them.

    Widening means the slice starts right after a checkpoint (which anchors its first record)
    and ends at one, so an offline verifier can check every record against a signed head.
    """
    from ._verify import record_seq

    recs = trail.records
    if not recs:
        return Trail([], list(trail.checkpoints), trail.public_key_pem, since, until)
    lo, hi = 0, len(recs) - 1
    if since is not None:
        while lo < len(recs) and _AT.decode(recs[lo]).at < since:
            lo += 1
    if until is not None:
        while hi >= lo and _AT.decode(recs[hi]).at > until:
            hi -= 1
    if lo > hi:
        return Trail([], [], trail.public_key_pem, since, until)
    first_seq = record_seq(recs[0])
    cps = sorted(((CHECKPOINT_DECODER.decode(c).seq, c) for c in trail.checkpoints), key=lambda t: t[0])
    lo_seq, hi_seq = first_seq + lo, first_seq + hi
    before = [s for s, _ in cps if s < lo_seq]
    after = [s for s, _ in cps if s >= hi_seq and s <= first_seq + len(recs) - 1]
    if before:
        lo_seq = before[-1] + 1
    if after:
        hi_seq = after[0]
    records = recs[lo_seq - first_seq : hi_seq - first_seq + 1]
    checkpoints = [c for s, c in cps if lo_seq - 1 <= s <= hi_seq]
    return Trail(records, checkpoints, trail.public_key_pem, since, until)
