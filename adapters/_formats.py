"""Native formats: how a source's bytes are cut into records (framing) and parsed into dicts.

One file a concept: `_framing` (frames by line or by XML element, with byte offsets), `_native`
(the `NativeFormat` base), `_text` (encodings), and one module per format family: `_json`
(JSON-lines, a JSON document), `_csv`, `_fixed` (fixed-width), `_xml`. This module gathers them.
"""

from __future__ import annotations

from ._csv import Csv
from ._fixed import FixedWidth
from ._framing import MAX_RECORD_BYTES, Frame
from ._json import JsonDocument, JsonLines
from ._native import NativeFormat, Opened, ParseProblem
from ._text import ENCODING_NAMES, text_encoding
from ._xml import Xml

__all__ = [
    "ENCODING_NAMES",
    "MAX_RECORD_BYTES",
    "Csv",
    "FixedWidth",
    "Frame",
    "JsonDocument",
    "JsonLines",
    "NativeFormat",
    "Opened",
    "ParseProblem",
    "Xml",
    "format_named",
    "text_encoding",
]

_BY_NAME = {"jsonl": JsonLines, "json": JsonDocument}


def format_named(name: str) -> NativeFormat:
    """The default format object for a bare format name (``jsonl``, ``json``)."""
    try:
        return _BY_NAME[name]()
    except KeyError:
        raise ValueError(f"Expected a format one of {tuple(_BY_NAME)} (others need options), got {name!r}") from None
