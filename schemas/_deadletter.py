"""A dead letter: a record its agency sent (or tried to) that was refused, with the reason.

Two writers, one shape: the agency's adapter, for a native record it could not map (``dlq.<kind>``),
and the router, for an envelope it refused at the edge (``dlq.router.<rule>``, through its import
``deadletter.<agency>.>``). Both land in the agency's own DEADLETTER stream, in its own account
(no other party needs its raw records), and `samband adapter dlq` lists both.
"""

from __future__ import annotations

import datetime as _dt

import msgspec

__all__ = ["DEAD_LETTER", "MAX_RAW_BYTES", "DeadLetter", "RawRef"]

# A raw record larger than this is referred to (source, offset, length, sha256), not copied.
MAX_RAW_BYTES = 1 << 20


class RawRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where an oversized record's bytes are: the agency's own file, which it keeps."""

    source: str
    offset: int
    length: int
    sha256: str | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    agency: str
    kind: str  # the adapter's rejection kind, or the router's rule (`deny.invalid-envelope`, ...)
    reason: str
    field: str | None = None
    position: str  # where the record was: a file position, or `INGEST_<agency> #<seq>`
    source: str
    offset: int
    length: int
    raw: bytes | None = None  # base64 on the wire
    raw_ref: RawRef | None = None
    rejected_at: _dt.datetime

    @property
    def message(self) -> str:
        where = f"`{self.field}` in {self.position}" if self.field else self.position
        return f"{self.reason} - at {where}"


DEAD_LETTER = msgspec.json.Decoder(DeadLetter)
