"""Errors raised by `samband.schemas`.

The tree::

    SchemaError                 base of everything this package raises
    ├── InvalidIdentifier       a personnummer, samordningsnummer, organisationsnummer or plate that fails validation
    └── DecodeError             bytes that do not decode into the expected schema
                                (wraps msgspec's ValidationError/DecodeError)

Messages follow msgspec's form: what was expected, what came, and where. Identifiers in
messages are always masked.
"""

from __future__ import annotations

__all__ = ["DecodeError", "InvalidIdentifier", "SchemaError"]


class SchemaError(Exception):
    """Base class for every error raised by `samband.schemas`."""


class InvalidIdentifier(SchemaError, ValueError):
    """An identifier failed validation; the message carries only a masked form of it."""


class DecodeError(SchemaError):
    """Bytes did not decode into the expected schema.

    ``schema`` is the schema that was expected (e.g. ``envelope``), ``path`` the JSON
    path of the offending value when there is one, ``record_type`` the tag of the record
    the envelope carried when it could be read.
    """

    def __init__(self, message: str, *, schema: str, path: str | None = None, record_type: str | None = None) -> None:
        super().__init__(message)
        self.schema = schema
        self.path = path
        self.record_type = record_type
