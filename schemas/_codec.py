"""One reusable encoder and decoder per type; errors translated to `DecodeError`."""

from __future__ import annotations

import re
from typing import Generic, TypeVar

import msgspec

from ._errors import DecodeError
from ._identifiers import PNR_SHAPE, mask_personnummer

__all__ = ["Codec", "encode"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

_PATH = re.compile(r" - at `(\$[^`]*)`$")


def _mask(text: str) -> str:
    return PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), text)


class Codec(Generic[T]):
    """Decode bytes into ``type_`` with one reusable msgspec Decoder."""

    def __init__(self, type_: type[T], name: str) -> None:
        self.name = name
        self._decoder = msgspec.json.Decoder(type_)

    def decode(self, data: bytes) -> T:
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            msg = _mask(str(exc))
            m = _PATH.search(msg)
            raise DecodeError(f"{self.name}: {msg}", schema=self.name, path=m.group(1) if m else None) from None
        except msgspec.DecodeError as exc:
            raise DecodeError(f"{self.name}: {_mask(str(exc))}", schema=self.name) from None
