"""Fixed-width natives: the first characters of a line name its record type, which picks its layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._framing import Frame
from ._native import NativeFormat, Opened, ParseProblem
from ._text import decode_text, text_encoding

__all__ = ["FixedWidth"]


@dataclass(frozen=True)
class Column:
    name: str
    start: int  # 0-based, in characters
    width: int


class FixedWidth(NativeFormat):
    """Fixed-width lines; the first ``type_width`` characters name the record type, which picks the layout."""

    name, suffixes = "fixed", (".txt", ".dat")

    def __init__(
        self, *, layouts: dict[str, Sequence[tuple[str, int]]], type_field: str = "posttyp", encoding: str = "latin-1"
    ) -> None:
        self.encoding = text_encoding(encoding)
        self.type_field = type_field
        self.layouts: dict[str, tuple[Column, ...]] = {}
        for code, cols in layouts.items():
            at, out = len(code), []
            for name, width in cols:
                out.append(Column(name, at, width))
                at += width
            self.layouts[code] = tuple(out)
        self.type_width = len(next(iter(layouts)))
        self.widths = {
            code: (cols[-1].start + cols[-1].width if cols else len(code)) for code, cols in self.layouts.items()
        }

    def parse(self, frame: Frame, opened: Opened) -> dict[str, Any]:
        text = decode_text(frame.data, opened.encoding)
        code = text[: self.type_width]
        cols = self.layouts.get(code)
        if cols is None:
            raise ParseProblem(
                f"Expected record type one of {tuple(self.layouts)}, got {code!r}", field=f"$.{self.type_field}"
            )
        width = self.widths[code]
        if len(text) != width:
            raise ParseProblem(f"Expected a `{code}` record of {width} characters, got {len(text)}")
        out: dict[str, Any] = {self.type_field: code}
        for c in cols:
            out[c.name] = text[c.start : c.start + c.width].strip()
        return out

    def dump(self, records: Sequence[dict[str, Any]]) -> bytes:
        lines = []
        for r in records:
            code = r[self.type_field]
            parts = [code]
            for c in self.layouts[code]:
                v = "" if r.get(c.name) is None else str(r[c.name])
                if len(v) > c.width:
                    raise ValueError(f"value of {c.name} longer than {c.width}: {v!r}")
                parts.append(v.rjust(c.width) if v.isdigit() else v.ljust(c.width))
            lines.append("".join(parts))
        return ("\r\n".join(lines) + "\r\n").encode(self.encoding)
