"""XML natives: a root element holding many record elements, each parsed alone with defusedxml
(which refuses DTDs and entities); an element becomes a dict (children by tag, attributes as ``@name``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, indent, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ._framing import Frame, frame_xml
from ._native import NativeFormat, Opened, ParseProblem
from ._text import decode_text, text_encoding

__all__ = ["Xml", "dict_to_element", "element_to_dict"]


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
        indent(root, space="  ")
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
