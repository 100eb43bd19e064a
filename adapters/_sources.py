"""Sources: a file, a directory being written to, or stdin, turned into native records with positions.

A file is read from its resumable position to its end. With ``follow`` the reader keeps
tailing: a record the writer has not finished (no line end yet, no close tag yet) waits for
the rest. A directory is read file by file in name order; with ``follow`` new files are
picked up, and a file counts as finished (its unfinished tail becomes a ``truncated`` dead
letter) once a newer file exists and it has been quiet for ``settle`` seconds.

A source that is followed (and stdin) yields `IDLE` whenever it has read everything there is
for now: the runtime then publishes the records it holds instead of waiting for a fuller
group, so a record written to a quiet export is published within one ``poll`` (0.1 s).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ._errors import RejectedRecord, SourceError
from ._formats import MAX_RECORD_BYTES, Frame, JsonLines, NativeFormat, Opened, ParseProblem
from ._state import Position

__all__ = ["IDLE", "MAX_RECORD_BYTES", "Checkpoint", "Idle", "NativeRecord", "read_file", "read_jsonl", "read_source"]

_CHUNK = 1 << 20


class NativeRecord(msgspec.Struct, frozen=True):
    """One native record as read (a frozen Struct: built once per record, a tenth of a frozen dataclass's cost)."""

    position: str  # where it was, for people: ``file:line``
    raw: bytes
    value: Any
    source: str = ""  # the source's key (absolute path, or ``-``)
    mark: Position | None = None  # where a restart continues after this record
    offset: int = 0  # its first byte in the source


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Not a record: a position to persist once everything before it is acknowledged (e.g. a finished file)."""

    source: str
    mark: Position


class Idle:
    """Not a record: the source has nothing more to read for now (see the module docstring)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IDLE"


IDLE = Idle()

FileItem = NativeRecord | RejectedRecord | Checkpoint  # what a file holds
Item = FileItem | Idle


def _where(frame: Frame, key: str) -> dict[str, Any]:
    return dict(source=key, offset=frame.offset, end=frame.end, index=frame.index)


def _item(
    fmt: NativeFormat, opened: Opened, frame: Frame, *, label: str, key: str, dev: int, inode: int
) -> NativeRecord | RejectedRecord:
    mark = Position(offset=frame.end, line=frame.next_line, index=frame.index + 1, dev=dev, inode=inode)
    position = f"{label}:{frame.line}"
    if frame.size > MAX_RECORD_BYTES and not frame.document:
        rej = RejectedRecord(
            f"record of {frame.size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit",
            position=position,
            kind="oversized",
            length=frame.size,
            **_where(frame, key),
        )
        rej.mark = mark
        return rej
    try:
        value = fmt.parse(frame, opened)
    except ParseProblem as p:
        common = _where(frame, key)
        kind, reason = p.kind, p.reason
        if not frame.complete and kind == "syntax":
            kind, reason = "truncated", f"truncated last record (the source ends inside it): {reason}"
        raw = frame.data if len(frame.data) <= MAX_RECORD_BYTES else b""  # a large document is referenced, not copied
        rej = RejectedRecord(
            reason,
            position=f"{label}:{frame.line + p.line_delta}",
            raw=raw,
            kind=kind,
            field=p.field,
            length=len(raw) if raw else frame.size,
            **common,
        )
        rej.mark = mark
        return rej
    return NativeRecord(position, frame.data, value, key, mark, frame.offset)


def read_file(
    path: Path,
    fmt: NativeFormat,
    *,
    start: Position | None = None,
    final: bool = True,
    key: str | None = None,
) -> Iterator[FileItem]:
    """Records of one file from ``start`` (a saved position) to its end; ``final=False`` leaves an unfinished tail."""
    path = Path(path)
    key = key or str(path.resolve())
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SourceError(f"Expected a readable file, got {exc.strerror} - at {path}") from exc
    with f:
        st = os.fstat(f.fileno())
        start = start or Position()
        if (start.inode and (start.dev, start.inode) != (st.st_dev, st.st_ino)) or st.st_size < start.offset:
            start = Position()  # replaced or truncated: a new file under the old name
        head = f.read(64 * 1024)
        opened = fmt.open(head)
        if fmt.name == "csv" and not opened.header:
            return  # the header line is not complete yet
        offset, line, index = start.offset, start.line, start.index
        if offset < opened.data_start:
            offset, line = opened.data_start, opened.data_line
        f.seek(offset)
        chunks = iter(lambda: f.read(_CHUNK), b"")
        for frame in fmt.frames(chunks, opened, offset=offset, line=line, index=index, final=final):
            yield _item(fmt, opened, frame, label=path.name, key=key, dev=st.st_dev, inode=st.st_ino)


def read_jsonl(path: Path, *, start: Position | None = None) -> Iterator[NativeRecord | RejectedRecord]:
    """Each line's JSON object, or a `RejectedRecord` naming the line, without stopping."""
    for item in read_file(path, JsonLines(), start=start):
        if not isinstance(item, Checkpoint):
            yield item


@dataclass
class _Tail:
    path: Path
    cursor: Position
    size: int = -1
    quiet_since: float = 0.0
    done: bool = False
    seen: set[str] = field(default_factory=set)


def _files(directory: Path, fmt: NativeFormat) -> list[Path]:
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in fmt.suffixes and not p.name.startswith(".")
    )


async def read_source(
    path: Path | str,
    fmt: NativeFormat,
    *,
    positions=None,
    follow: bool = False,
    stop: asyncio.Event | None = None,
    poll: float = 0.1,
    settle: float = 1.0,
) -> AsyncIterator[Item]:
    """Records from a file, a directory or stdin (``-``), from each source's saved position."""
    stop = stop or asyncio.Event()
    if str(path) == "-":
        async for item in _read_stdin(fmt, stop):
            yield item
        return
    path = Path(path)
    if path.is_dir():
        async for item in _read_directory(path, fmt, positions, follow=follow, stop=stop, poll=poll, settle=settle):
            yield item
        return
    if not path.is_file():
        raise SourceError(f"Expected a file, a directory or `-` (stdin), got nothing at {path}")
    key = str(path.resolve())
    cursor = positions.get(key) if positions is not None else Position()
    while True:
        for item in read_file(path, fmt, start=cursor, final=not follow, key=key):
            cursor = item.mark
            yield item
        if not follow or stop.is_set():
            return
        yield IDLE  # nothing more for now: what is held is published before the next look
        if not await _waited(poll, stop):
            return


async def _waited(seconds: float, stop: asyncio.Event) -> bool:
    """Wait ``seconds`` or until ``stop``; whether to look again (not stopped)."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
    return not stop.is_set()


async def _read_directory(
    directory: Path, fmt: NativeFormat, positions, *, follow: bool, stop: asyncio.Event, poll: float, settle: float
) -> AsyncIterator[Item]:
    tails: dict[str, _Tail] = {}
    loop = asyncio.get_running_loop()
    while True:
        files = _files(directory, fmt)
        for n, p in enumerate(files):
            key = str(p.resolve())
            tail = tails.get(key)
            if tail is None:
                saved = positions.get(key) if positions is not None else Position()
                tail = tails[key] = _Tail(p, saved, done=saved.done)
            if tail.done:
                continue
            size = p.stat().st_size
            now = loop.time()
            if size != tail.size:
                tail.size, tail.quiet_since = size, now
            newest = n == len(files) - 1
            final = not follow or (not newest and now - tail.quiet_since >= settle)
            if not final and fmt.name == "json" and now - tail.quiet_since < settle:
                continue  # a JSON document is read whole, once its writer is done
            for item in read_file(p, fmt, start=tail.cursor, final=final or fmt.name == "json", key=key):
                if item.mark is not None:  # always set by read_file; None only on records made elsewhere
                    tail.cursor = item.mark
                yield item
            if final or fmt.name == "json":
                tail.done = True
                tail.cursor = Position(
                    offset=tail.cursor.offset,
                    line=tail.cursor.line,
                    index=tail.cursor.index,
                    dev=tail.cursor.dev,
                    inode=tail.cursor.inode,
                    done=True,
                )
                yield Checkpoint(key, tail.cursor)
        if not follow or stop.is_set():
            return
        yield IDLE  # nothing more for now: what is held is published before the next look
        if not await _waited(poll, stop):
            return


async def _read_stdin(fmt: NativeFormat, stop: asyncio.Event, stream: BinaryIO | None = None) -> AsyncIterator[Item]:
    """Stdin has no position to resume from; records are framed as they arrive (in a thread: reads block)."""
    stream = stream or sys.stdin.buffer
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=1024)
    done = object()

    def chunks() -> Iterable[bytes]:
        while not stop.is_set():
            chunk = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)
            if not chunk:
                return
            yield chunk

    def pump() -> None:
        try:
            gen = iter(chunks())
            first = next(gen, b"")
            opened = fmt.open(first)
            begin = min(opened.data_start, len(first))
            rest = itertools.chain([first[begin:]], gen)
            for frame in fmt.frames(rest, opened, offset=begin, line=opened.data_line, index=0, final=True):
                item = _item(fmt, opened, frame, label="stdin", key="-", dev=0, inode=0)
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(done), loop).result()

    if fmt.name == "json":
        raise SourceError("Expected a file or directory for a JSON document source, got stdin (use JSON-lines)")
    threading.Thread(target=pump, name="samband-stdin", daemon=True).start()
    while True:
        if queue.empty():
            yield IDLE
        item = await queue.get()
        if item is done:
            return
        yield item
