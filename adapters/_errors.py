"""Errors raised by `samband.adapters`.

The tree::

    AdapterError                base of everything this package raises
    ├── RejectedRecord          one native record could not be parsed, mapped or validated (goes to dead letters)
    ├── PublishFailed           the broker did not acknowledge a publish in time (wraps the nats-py error)
    ├── SourceError             a source (file, directory, stdin) cannot be read at all
    ├── MappingFileError        a declarative mapping file is invalid (the message names the bad key)
    ├── ReportError             an outcomes report cannot be made: outside the identity's scope, nothing received,
    │                           its inbox unreadable
    └── UnknownAgency           no adapter for that agency name (the message suggests the closest one)

A `RejectedRecord` reads like msgspec's errors: what was expected, what came, and where,
``<reason> - at `$.field` in <file>:<line>``. Its ``kind`` is the dead-letter subject's last
token (``dlq.<kind>``).
"""

from __future__ import annotations

from samband.schemas import PNR_SHAPE, mask_personnummer

from ._state import Position

__all__ = [
    "REJECT_KINDS",
    "AdapterError",
    "MappingFileError",
    "PublishFailed",
    "RejectedRecord",
    "ReportError",
    "SourceError",
    "UnknownAgency",
]

# Why a record was rejected; each is a dead-letter subject `dlq.<kind>`.
REJECT_KINDS = (
    "syntax",  # the bytes are not well-formed JSON / XML / CSV / fixed-width
    "encoding",  # the bytes are not in the source's declared encoding
    "oversized",  # larger than MAX_RECORD_BYTES; the dead letter carries a reference, not the bytes
    "truncated",  # the source ended in the middle of a record
    "missing-field",  # a required field is absent or empty
    "identifier",  # a personnummer / organisationsnummer / plate fails validation (check digit, date, shape)
    "date",  # an impossible or malformed date or time
    "value",  # any other value the shared schema does not accept
)


class AdapterError(Exception):
    """Base class for every error raised by `samband.adapters`."""


class RejectedRecord(AdapterError):
    """A native record was rejected.

    ``position`` names where it was (``file:line``), ``field`` the offending field's path
    (``$.forare.personnummer``) when there is one, ``kind`` one of `REJECT_KINDS`, ``raw`` the
    record's bytes (empty when it was too large to keep), ``offset``/``length`` its place in
    the source in bytes.
    """

    def __init__(
        self,
        reason: str,
        *,
        position: str,
        raw: bytes = b"",
        kind: str = "value",
        field: str | None = None,
        source: str = "",
        offset: int = 0,
        length: int | None = None,
        end: int | None = None,
        index: int = 0,
    ) -> None:
        # A reason may quote a value; anything shaped like a personnummer is masked.
        reason = PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), reason)
        where = f"`{field}` in {position}" if field else position
        super().__init__(f"{reason} - at {where}")
        self.reason = reason
        self.position = position
        self.raw = raw
        self.kind = kind
        self.field = field
        self.source = source
        self.offset = offset
        self.length = len(raw) if length is None else length
        self.end = offset + self.length if end is None else end  # resume point after this record
        self.index = index
        self.mark: Position | None = None  # the source position after this record (set by the reader)


class PublishFailed(AdapterError):
    """A publish was not acknowledged by the agency's outbound stream."""


class SourceError(AdapterError):
    """A source cannot be read at all (missing, unreadable, not a file or directory)."""


class MappingFileError(AdapterError):
    """A declarative mapping file is invalid; the message names the bad key and the file."""


class ReportError(AdapterError):
    """An outcomes report cannot be made; ``usage`` when the request itself is wrong (a region outside the scope)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


class UnknownAgency(AdapterError, LookupError):
    """No mapping module, onboarded mapping or packaged mapping for the agency named."""
