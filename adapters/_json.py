"""JSON natives: JSON-lines (one object per line) and a JSON document holding an array of records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ._framing import MAX_RECORD_BYTES, Frame
from ._native import NativeFormat, Opened, ParseProblem
from ._text import decode_text

__all__ = ["JsonDocument", "JsonLines"]


def _json_problem(exc: Exception) -> str:
    """msgspec's message without its prefix, the byte offset as a column."""
    text = str(exc).removeprefix("JSON is malformed: ")
    return re.sub(r" \(byte (\d+)\)$", lambda m: f" at column {int(m.group(1)) + 1}", text)


_JSON = msgspec.json.Decoder()


class JsonLines(NativeFormat):
    name, suffixes = "jsonl", (".jsonl", ".ndjson", ".json")

    def open(self, head: bytes) -> Opened:
        # some Windows tools start UTF-8 text with a byte-order mark; it is not part of the first record
        return Opened(data_start=3 if head.startswith(b"\xef\xbb\xbf") else 0)

    def parse(self, frame: Frame, opened: Opened) -> dict[str, Any]:
        try:
            value = _JSON.decode(frame.data)
        except UnicodeDecodeError:
            decode_text(frame.data, "utf-8")  # msgspec's offsets are not the record's: find the byte ourselves
            raise
        except msgspec.DecodeError as exc:
            raise ParseProblem(f"malformed JSON: {_json_problem(exc)}") from None
        if not isinstance(value, dict):
            raise ParseProblem(f"Expected a JSON object, got `{type(value).__name__}`")
        return value

    def dump(self, records: Sequence[dict[str, Any]]) -> bytes:
        return b"".join(msgspec.json.encode(r) + b"\n" for r in records)


class JsonDocument(NativeFormat):
    """A JSON document holding an array of records (at the top, or under ``array`` in an object)."""

    name, suffixes = "json", (".json",)

    def __init__(self, *, array: str | None = None) -> None:
        self.array = array
        self._decoder = msgspec.json.Decoder(dict[str, list[msgspec.Raw]] if array else list[msgspec.Raw])

    def frames(self, chunks, opened, *, offset, line, index, final):
        data = b"".join(chunks)
        if offset or not data.strip():
            return  # a document is read whole and only once
        if not final:
            return
        try:
            doc = self._decoder.decode(data)
            items = doc.get(self.array, []) if self.array else doc
        except (msgspec.DecodeError, UnicodeDecodeError):
            yield Frame(data, 0, len(data), 1, data.count(b"\n") + 1, 0, size=len(data), document=True)
            return
        at = 0
        for i, raw in enumerate(items):
            chunk = bytes(raw)
            start = data.find(chunk, at)
            at = start + len(chunk)
            if i < index:
                continue
            ln = data.count(b"\n", 0, start) + 1
            yield Frame(
                chunk if len(chunk) <= MAX_RECORD_BYTES else b"",
                start,
                len(data) if i == len(items) - 1 else at,
                ln,
                ln + chunk.count(b"\n"),
                i,
                size=len(chunk),
            )

    def parse(self, frame: Frame, opened: Opened) -> dict[str, Any]:
        if frame.document:
            try:
                self._decoder.decode(frame.data)
            except UnicodeDecodeError:
                decode_text(frame.data, "utf-8")
            except msgspec.DecodeError as exc:
                text = str(exc).removeprefix("JSON is malformed: ")
                kind = "truncated" if "truncated" in text else "syntax"
                m = re.search(r" \(byte (\d+)\)$", text)
                if m:  # the document's byte offset as line and column
                    at = int(m.group(1))
                    line = frame.data.count(b"\n", 0, at)
                    col = at - (frame.data.rfind(b"\n", 0, at) + 1) + 1
                    raise ParseProblem(
                        f"malformed JSON document: {text[: m.start()]} at column {col}", kind=kind, line_delta=line
                    ) from None
                raise ParseProblem(f"malformed JSON document: {text}", kind=kind) from None
            raise ParseProblem("malformed JSON document")
        return JsonLines.parse(self, frame, opened)  # type: ignore[arg-type]

    def dump(self, records: Sequence[dict[str, Any]]) -> bytes:
        doc: Any = {self.array: list(records)} if self.array else list(records)
        return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
