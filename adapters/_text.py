"""Text encodings: the one place their names are read, and the strict decoding of a record's bytes."""

from __future__ import annotations

import re

from ._native import ParseProblem

__all__ = ["ENCODING_NAMES", "LATIN_1_NAMES", "decode_text", "text_encoding"]

# A native text is Latin-1 (by any of its names) or UTF-8 (with or without a byte-order mark).
LATIN_1_NAMES = ("latin-1", "latin1", "iso-8859-1")
ENCODING_NAMES = ("utf-8", "utf-8-sig", *LATIN_1_NAMES)


def text_encoding(name: str) -> str:
    """The codec a text declared as ``name`` is decoded with: ``latin-1`` for Latin-1's names, else ``utf-8``."""
    return "latin-1" if name.lower() in LATIN_1_NAMES else "utf-8"


_UTF8_IN_LATIN1 = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _bad_byte(data: bytes, pos: int, expected: str, got: str) -> ParseProblem:
    line_start = data.rfind(b"\n", 0, pos) + 1
    return ParseProblem(
        f"Expected {expected} text, got {got} at column {pos - line_start + 1}",
        kind="encoding",
        line_delta=data.count(b"\n", 0, pos),
    )


def decode_text(data: bytes, encoding: str) -> str:
    """Decode strictly, naming the first bad byte and its column; Latin-1 that is really UTF-8 is refused too.

    ``encoding`` is what `text_encoding` answered: ``latin-1`` or ``utf-8``.
    """
    if encoding == "latin-1":
        m = _UTF8_IN_LATIN1.search(data)
        if m:
            raise _bad_byte(data, m.start(), "Latin-1", "UTF-8 bytes " + " ".join(f"0x{b:02x}" for b in m.group(0)))
        return data.decode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad_byte(data, exc.start, "UTF-8", f"byte 0x{data[exc.start]:02x}") from None
