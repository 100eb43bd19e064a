"""Native formats: how a source's bytes are cut into records (framing) and parsed into dicts.

Every format frames by bytes first and parses each record on its own, so one malformed
record costs only itself: JSON-lines, CSV and fixed-width frame by line; XML frames by the
record element (the file's root and prolog are skipped, each record is parsed alone with
defusedxml, which refuses DTDs and entities); a JSON document (an array) is one frame per
element. Frames carry byte offsets, which is what the resumable position stores.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml.ElementTree as SafeET
import msgspec
from defusedxml import DefusedXmlException

__all__ = [
    "MAX_RECORD_BYTES",
    "Csv",
    "FixedWidth",
    "Frame",
    "JsonDocument",
    "JsonLines",
    "NativeFormat",
    "ParseProblem",
    "Xml",
    "format_named",
]

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


# ---- text encodings: the one place their names are read -------------------------------
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


# ---- framing --------------------------------------------------------------------------
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


@dataclass
class _XmlScan:
    tag: bytes
    root: bytes | None = None


_COMMENT_OR_PI = re.compile(rb"<\?.*?\?>|<!--.*?-->", re.S)


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
        stray = re.sub(rb"</?[A-Za-z_][\w.-]*(\s[^<>]*)?>", b"", _COMMENT_OR_PI.sub(b"", between)).strip()
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
            yield Frame(
                bytes(buf) if len(buf) <= MAX_RECORD_BYTES else b"",
                pos,
                pos + len(buf),
                line,
                line + buf.count(b"\n"),
                index,
                complete=False,
                size=len(buf),
            )
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
    if final:
        rest = re.sub(rb"</?[A-Za-z_][\w.-]*(\s[^<>]*)?>", b"", _COMMENT_OR_PI.sub(b"", bytes(buf))).strip()
        if rest:
            yield Frame(
                bytes(buf).strip()[:MAX_RECORD_BYTES],
                pos,
                pos + len(buf),
                line,
                line + buf.count(b"\n"),
                index,
                complete=False,
                size=len(buf),
            )


# ---- the formats ----------------------------------------------------------------------
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
        import io

        cols = list(self.columns or (records[0].keys() if records else ()))
        out = io.StringIO()
        w = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n")
        w.writerow(cols)
        for r in records:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        prefix = b"\xef\xbb\xbf" if self.bom else b""
        return prefix + out.getvalue().encode(self.encoding)


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


_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


class Xml(NativeFormat):
    """An XML export: a root element holding many ``<record_tag>`` elements."""

    name, suffixes = "xml", (".xml",)

    def __init__(self, *, record_tag: str, root_tag: str = "Export", encoding: str = "utf-8") -> None:
        self.record_tag, self.root_tag, self.encoding = record_tag, root_tag, encoding

    def open(self, head: bytes) -> Opened:
        m = _XML_DECL.match(head[:200])
        return Opened(encoding=text_encoding(m.group(1).decode()) if m else "utf-8")

    def frames(self, chunks, opened, *, offset, line, index, final):
        return frame_xml(chunks, tag=self.record_tag, offset=offset, line=line, index=index, final=final)

    def parse(self, frame: Frame, opened: Opened) -> dict[str, Any]:
        text = decode_text(frame.data, opened.encoding)
        try:
            elem = SafeET.fromstring(text)
        except ParseError as exc:
            ln, col = exc.position
            raise ParseProblem(
                f"malformed XML: {str(exc).split(':')[0]} at column {col + 1}", line_delta=ln - 1
            ) from None
        except DefusedXmlException as exc:
            raise ParseProblem(f"refused XML: {exc}") from None
        if elem.tag != self.record_tag:
            raise ParseProblem(f"Expected a <{self.record_tag}> element, got <{elem.tag}>")
        return element_to_dict(elem)

    def dump(self, records: Sequence[dict[str, Any]]) -> bytes:
        root = Element(self.root_tag)
        for r in records:
            dict_to_element(SubElement(root, self.record_tag), r)
        _indent(root)
        declared = "ISO-8859-1" if text_encoding(self.encoding) == "latin-1" else "UTF-8"
        body = tostring(root, encoding="unicode")
        return f'<?xml version="1.0" encoding="{declared}"?>\n{body}\n'.encode(self.encoding)


def element_to_dict(elem: Element) -> dict[str, Any]:
    """Children by tag (repeated tags become lists), attributes as ``@name``, text of leaves as values."""
    out: dict[str, Any] = {f"@{k}": v for k, v in elem.attrib.items()}
    for child in elem:
        value: Any = element_to_dict(child) if (len(child) or child.attrib) else (child.text or "").strip()
        if isinstance(value, dict) and not len(child) and child.text and child.text.strip():
            value["#text"] = child.text.strip()
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[child.tag] = value
    return out


def dict_to_element(elem: Element, value: dict[str, Any]) -> None:
    for k, v in value.items():
        if v is None:
            continue
        if k.startswith("@"):
            elem.set(k[1:], str(v))
        elif k == "#text":
            elem.text = str(v)
        elif isinstance(v, list):
            for item in v:
                child = SubElement(elem, k)
                if isinstance(item, dict):
                    dict_to_element(child, item)
                else:
                    child.text = str(item)
        elif isinstance(v, dict):
            dict_to_element(SubElement(elem, k), v)
        else:
            SubElement(elem, k).text = str(v)


def _indent(elem: Element) -> None:
    from xml.etree.ElementTree import indent

    indent(elem, space="  ")


_BY_NAME = {"jsonl": JsonLines, "json": JsonDocument}


def format_named(name: str) -> NativeFormat:
    """The default format object for a bare format name (``jsonl``, ``json``)."""
    try:
        return _BY_NAME[name]()
    except KeyError:
        raise ValueError(f"Expected a format one of {tuple(_BY_NAME)} (others need options), got {name!r}") from None
