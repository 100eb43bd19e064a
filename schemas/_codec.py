"""One reusable encoder and decoder per type; errors translated to `DecodeError`."""

from __future__ import annotations

import re
from typing import Generic, TypeVar

import msgspec

from ._errors import DecodeError
from ._identifiers import PNR_SHAPE, mask_personnummer
from ._tolerant import tolerant as _tolerant

__all__ = ["Codec", "encode"]

T = TypeVar("T", bound=msgspec.Struct)

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

_PATH = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_TAG = re.compile(r"^Invalid value '(.*)' - at `(\$[^`]*)\.type`$", re.S)


def _mask(text: str) -> str:
    return PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), text)


class _RecordProbe(msgspec.Struct):
    type: str | None = None


class _EnvelopeProbe(msgspec.Struct):
    record: _RecordProbe | None = None


_PROBE = msgspec.json.Decoder(_EnvelopeProbe)


def _record_type(data: bytes) -> str | None:
    """The record tag the bytes claim, if they parse that far (only ever called on the error path)."""
    try:
        probe = _PROBE.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _mask(probe.record.type) if probe.record and probe.record.type else None


class Codec(Generic[T]):
    """Decode bytes into ``type_`` with one reusable msgspec Decoder.

    ``tolerant=True`` makes a reader that ignores fields it does not know (a newer minor
    version's additions) at any depth; everything else is checked as strictly.
    Every failure is one `DecodeError` whose message names the schema, the record type
    (for an envelope), what was expected and the JSON path, with personnummer masked.
    """

    def __init__(self, type_: type[T], name: str, *, tolerant: bool = False) -> None:
        self.type = type_
        self.name = name
        self.tolerant = tolerant
        self._decoder = msgspec.json.Decoder(_tolerant(type_) if tolerant else type_)
        self._enveloped = (
            isinstance(type_, type) and issubclass(type_, msgspec.Struct) and "record" in type_.__struct_fields__
        )

    def __repr__(self) -> str:
        return f"Codec({self.type.__name__}, {self.name!r}{', tolerant=True' if self.tolerant else ''})"

    def decode(self, data: bytes) -> T:
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise self._error(str(exc), data) from None
        except msgspec.DecodeError as exc:
            raise DecodeError(f"{self.name}: {_mask(str(exc))}", schema=self.name) from None

    encode = staticmethod(encode)

    def _error(self, text: str, data: bytes) -> DecodeError:
        text = _mask(text)
        m = _PATH.search(text)
        if not m:  # raised by the top-level struct's own checks: msgspec names no path
            text += " - at `$`"
        path = m.group(1) if m else "$"
        unknown = _UNKNOWN_TAG.match(text)
        if unknown:
            tag, at = unknown.groups()
            what = "record type" if at in ("$", "$.record") else "tag"
            text = f"Expected a known {what}, got `{tag}` - at `{at}.type`"
        record_type = _record_type(data) if self._enveloped and not (unknown and path == "$.record.type") else None
        where = f"{self.name} ({record_type} record)" if record_type else self.name
        return DecodeError(f"{where}: {text}", schema=self.name, path=path, record_type=record_type)
