"""Framing: how a source's bytes are cut into records, before any is parsed.

Every format frames by bytes first and parses each record on its own, so one malformed record
costs only itself: JSON-lines, CSV and fixed-width frame by line (`frame_lines`); XML frames by
the record element (`frame_xml`: the file's root and prolog are skipped). Frames carry byte
offsets, which is what the resumable position stores; a record over `MAX_RECORD_BYTES` is
counted, never kept in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["MAX_RECORD_BYTES", "Frame", "frame_lines", "frame_xml"]

MAX_RECORD_BYTES = 1 << 20


@dataclass(slots=True)
class Frame:
    """One record's bytes and where they were. ``data`` is empty when the record was oversized."""

    data: bytes
    offset: int  # first byte of the record in the source
    end: int  # the byte after it: where a restart continues
    line: int  # 1-based line of its first byte
    next_line: int  # the line a restart continues at
    index: int  # 0-based ordinal of the record in the source
    complete: bool = True  # False: the source ended inside this record
    size: int = 0  # its length (kept for oversized records whose bytes are not)
    document: bool = False  # the whole source (a JSON document that does not parse)


def frame_lines(chunks: Iterator[bytes], *, offset: int, line: int, index: int, final: bool) -> Iterator[Frame]:
    """Frame by line end. Blank lines are skipped; a line longer than the limit is not kept in memory.

    Each chunk is scanned in place (a line is sliced out once), not consumed from a buffer.
    """
    carry = b""  # the start of a line whose end is in a later chunk
    start, skipping, skipped = offset, False, 0
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        carry, pos, find = b"", 0, data.find
        while True:
            nl = find(b"\n", pos)
            if nl < 0:
                rest = len(data) - pos
                if rest > MAX_RECORD_BYTES:  # an oversized record: count its bytes, keep none
                    skipping, skipped = True, skipped + rest
                elif rest:
                    carry = data[pos:]
                break
            size = skipped + nl - pos
            end = start + size + 1
            if skipping:
                yield Frame(b"", start, end, line, line + 1, index, size=size)
                index += 1
            else:
                raw = data[pos:nl]
                if raw and not raw.isspace():  # (bytes.strip would copy every line to ask the same)
                    yield Frame(raw.rstrip(b"\r"), start, end, line, line + 1, index, size=size)
                    index += 1
            start, line, skipping, skipped = end, line + 1, False, 0
            pos = nl + 1
    if final and ((carry and not carry.isspace()) or skipping):
        size = skipped + len(carry)
        yield Frame(
            b"" if skipping else carry.rstrip(b"\r"),
            start,
            start + size,
            line,
            line + 1,
            index,
            complete=False,
            size=size,
        )


_COMMENT_OR_PI = re.compile(rb"<\?.*?\?>|<!--.*?-->", re.S)
_TAG = re.compile(rb"</?[A-Za-z_][\w.-]*(\s[^<>]*)?>")


def _text_outside_markup(data: bytes) -> bytes:
    """What stands between records once tags, comments and processing instructions are taken out."""
    return _TAG.sub(b"", _COMMENT_OR_PI.sub(b"", data)).strip()


def _unfinished(data: bytes, buf: bytearray, pos: int, line: int, index: int) -> Frame:
    """The rest of the source (``buf``, at ``pos``) as one record the source ended inside."""
    return Frame(data, pos, pos + len(buf), line, line + buf.count(b"\n"), index, complete=False, size=len(buf))


def frame_xml(chunks: Iterator[bytes], *, tag: str, offset: int, line: int, index: int, final: bool) -> Iterator[Frame]:
    """Frame by the record element ``<tag ...>...</tag>``; between records only the root, prolog and comments
    may stand."""
    open_re = re.compile(rb"<" + re.escape(tag.encode()) + rb"[\s/>]")
    close = b"</" + tag.encode() + b">"
    buf = bytearray()
    pos = offset  # source offset of buf[0]
    eof = False
    it = iter(chunks)

    def more() -> bool:
        nonlocal eof
        chunk = next(it, None)
        if chunk is None:
            eof = True
            return False
        buf.extend(chunk)
        return True

    while True:
        m = open_re.search(buf)
        if not m:
            if len(buf) > MAX_RECORD_BYTES * 2:  # nothing record-like for megabytes: report it, keep going
                yield Frame(b"", pos, pos + len(buf), line, line + buf.count(b"\n"), index, size=len(buf))
                line += buf.count(b"\n")
                pos += len(buf)
                buf.clear()
                index += 1
            if more():
                continue
            break
        between = bytes(buf[: m.start()])
        stray = _text_outside_markup(between)
        if stray:  # text or a broken tag where a record should start: that record is malformed
            yield Frame(
                between.strip(), pos, pos + m.start(), line, line + between.count(b"\n"), index, size=len(between)
            )
            index += 1
        line += between.count(b"\n")
        pos += m.start()
        del buf[: m.start()]
        # the record runs to its close tag
        while (j := buf.find(close)) < 0:
            if len(buf) > MAX_RECORD_BYTES + len(close) or not more():
                break
        if j >= 0:
            size = j + len(close)
            raw = bytes(buf[:size])
            nl = raw.count(b"\n")
            oversized = size > MAX_RECORD_BYTES
            yield Frame(b"" if oversized else raw, pos, pos + size, line, line + nl, index, size=size)
            index, line, pos = index + 1, line + nl, pos + size
            del buf[:size]
            continue
        if eof and not final:
            return  # an unfinished record: wait for the writer
        if eof:
            yield _unfinished(bytes(buf) if len(buf) <= MAX_RECORD_BYTES else b"", buf, pos, line, index)
            return
        # oversized: skip to the close tag without keeping the bytes
        size, nl = 0, 0
        while (j := buf.find(close)) < 0:
            keep = len(close)
            size += len(buf) - keep
            nl += buf.count(b"\n", 0, len(buf) - keep)
            del buf[: len(buf) - keep]
            if not more():
                if final:
                    yield Frame(
                        b"", pos, pos + size + len(buf), line, line + nl, index, complete=False, size=size + len(buf)
                    )
                return
        size += j + len(close)
        nl += buf.count(b"\n", 0, j)
        yield Frame(b"", pos, pos + size, line, line + nl, index, size=size)
        index, line, pos = index + 1, line + nl, pos + size
        del buf[: j + len(close)]
    if final and _text_outside_markup(bytes(buf)):
        yield _unfinished(bytes(buf).strip()[:MAX_RECORD_BYTES], buf, pos, line, index)
