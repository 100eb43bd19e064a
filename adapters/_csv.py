"""CSV natives: semicolon-separated text with a header line (decimal comma), as Swedish systems export it."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ._framing import Frame
from ._native import NativeFormat, Opened, ParseProblem
from ._text import decode_text, text_encoding

__all__ = ["Csv"]


class Csv(NativeFormat):
    """Semicolon-separated text with a header line, as Swedish systems export it (decimal comma)."""

    name, suffixes = "csv", (".csv", ".txt")

    def __init__(
        self, *, encoding: str = "utf-8-sig", delimiter: str = ";", columns: Sequence[str] | None = None
    ) -> None:
        self.encoding = text_encoding(encoding)
        self.bom = encoding.lower() == "utf-8-sig"
        self.delimiter = delimiter
        self.columns = tuple(columns) if columns else None

    def open(self, head: bytes) -> Opened:
        start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        nl = head.find(b"\n", start)
        if nl < 0:
            return Opened(data_start=len(head) + 1, data_line=2, encoding=self.encoding, header=())  # no header yet
        text = decode_text(head[start:nl].rstrip(b"\r"), self.encoding)
        header = tuple(h.strip() for h in next(csv.reader([text], delimiter=self.delimiter)))
        return Opened(data_start=nl + 1, data_line=2, encoding=self.encoding, header=header)

    def parse(self, frame: Frame, opened: Opened) -> dict[str, Any]:
        text = decode_text(frame.data, opened.encoding)
        try:
            row = next(csv.reader([text], delimiter=self.delimiter, strict=True))
        except csv.Error as exc:
            raise ParseProblem(f"malformed CSV: {exc}") from None
        if len(row) != len(opened.header):
            raise ParseProblem(f"Expected {len(opened.header)} fields separated by `{self.delimiter}`, got {len(row)}")
        return dict(zip(opened.header, (v.strip() for v in row)))

    def dump(self, records: Sequence[dict[str, Any]]) -> bytes:

        cols = list(self.columns or (records[0].keys() if records else ()))
        out = io.StringIO()
        w = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n")
        w.writerow(cols)
        for r in records:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        prefix = b"\xef\xbb\xbf" if self.bom else b""
        return prefix + out.getvalue().encode(self.encoding)
