"""What every native format is: it frames chunks, parses one frame into a dict, and writes records
(for samples); `ParseProblem` is what a frame that does not parse raises, and `Opened` what a
format learns from a file's head."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._framing import Frame, frame_lines

__all__ = ["NativeFormat", "Opened", "ParseProblem"]


class ParseProblem(Exception):
    def __init__(self, reason: str, *, kind: str = "syntax", field: str | None = None, line_delta: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.kind, self.field, self.line_delta = reason, kind, field, line_delta


@dataclass
class Opened:
    """What a format learns from a file's head: where records start and how text is encoded."""

    data_start: int = 0
    data_line: int = 1
    encoding: str = "utf-8"
    header: tuple[str, ...] = ()


class NativeFormat:
    """Base: a format frames chunks, parses one frame into a dict, and writes records (for samples)."""

    name = ""
    suffixes: tuple[str, ...] = ()
    encoding = "utf-8"

    def open(self, head: bytes) -> Opened:
        return Opened(encoding=self.encoding)

    def frames(
        self, chunks: Iterator[bytes], opened: Opened, *, offset: int, line: int, index: int, final: bool
    ) -> Iterator[Frame]:
        return frame_lines(chunks, offset=offset, line=line, index=index, final=final)

    def parse(self, frame: Frame, opened: Opened) -> dict[str, Any]:
        raise NotImplementedError

    def dump(self, records: Sequence[dict[str, Any]]) -> bytes:
        raise NotImplementedError
