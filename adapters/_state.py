"""The resumable position of each source, persisted in a small JSON state file.

The position says where a restart continues: the byte offset after the last record whose
publish (or dead letter) was acknowledged, with the line and record ordinal there, and the
file's identity (device, inode) so a replaced file starts again from its beginning. It is an
optimisation over `Nats-Msg-Id` dedupe, not a guarantee by itself: a position lost in a
crash means only re-reading records the broker then reports as duplicates.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

__all__ = ["Position", "Positions"]


class Position(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    offset: int = 0
    line: int = 1
    index: int = 0
    dev: int = 0
    inode: int = 0
    done: bool = False  # a finished file in a directory source (no longer tailed)


class _File(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    version: int = 1
    sources: dict[str, Position] = {}


_DECODER = msgspec.json.Decoder(_File)


class Positions:
    """Positions by source key (the file's absolute path). ``path=None`` keeps them in memory only."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._sources: dict[str, Position] = {}
        if self.path and self.path.exists():
            self._sources = dict(_DECODER.decode(self.path.read_bytes()).sources)

    def get(self, key: str) -> Position:
        return self._sources.get(key) or Position()

    def set(self, key: str, pos: Position) -> None:
        self._sources[key] = pos

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        # where the agency's exports are read up to: owner-only, like every state file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.json.encode(_File(sources=self._sources)))
        os.replace(tmp, self.path)

    def __contains__(self, key: str) -> bool:
        return key in self._sources
