"""Sources and parsers: turn bytes from a file into native records with their positions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ._errors import RejectedRecord

__all__ = ["NativeRecord", "read_jsonl", "MAX_RECORD_BYTES"]

MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class NativeRecord:
    position: str
    raw: bytes
    value: Any


def read_jsonl(path: Path) -> Iterator[NativeRecord | RejectedRecord]:
    """Yield each line's JSON object, or a `RejectedRecord` naming the line, without stopping."""
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            position = f"{path.name}:{lineno}"
            stripped = line.strip()
            if not stripped:
                continue
            if len(stripped) > MAX_RECORD_BYTES:
                yield RejectedRecord(f"record of {len(stripped)} bytes exceeds the {MAX_RECORD_BYTES}-byte limit", position=position)
                continue
            try:
                value = msgspec.json.decode(stripped)
            except msgspec.DecodeError as exc:
                yield RejectedRecord(f"malformed JSON: {exc}", position=position, raw=stripped)
                continue
            if not isinstance(value, dict):
                yield RejectedRecord(f"Expected a JSON object, got `{type(value).__name__}`", position=position, raw=stripped)
                continue
            yield NativeRecord(position, stripped, value)
