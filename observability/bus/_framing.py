"""The NATS client protocol's publish commands as pure functions (as nats.py's protocol/command.py).

Testable without a socket; `AckPipeline` joins a slice of a batch into one write with them, and
the bulk reader asks for pull batches with them. The header block follows nats-py's own framing
(``NATS/1.0``, ``Key: value`` lines, a blank line): header values with CR or LF have them replaced
by spaces, as nats-py does, so a value can never inject protocol.
"""

from __future__ import annotations

import re

__all__ = [
    "HeaderKeyError",
    "ack_pending",
    "ack_position",
    "header_block",
    "hpub_cmd",
    "parse_headers",
    "pub_cmd",
    "subject_ok",
]

_HEADER_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# as nats-py's publish path: whitespace (CR/LF above all) in a subject would inject protocol
_SUBJECT_INVALID = re.compile(r"\s")
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
# Subjects and header keys repeat (a record type, a recipient, `Nats-Msg-Id`): each distinct
# one is checked once; the sets are bounded because subjects come from senders.
_checked_subjects: set[str] = set()
_checked_keys: set[str] = set()
_LIMIT = 10_000


class HeaderKeyError(ValueError):
    """A header key with characters that HTTP-style headers do not allow."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Expected a header key of visible ASCII without `:`, got {key!r}")


def subject_ok(subject: str) -> bool:
    """A non-empty subject without whitespace."""
    if subject in _checked_subjects:
        return True
    if not subject or _SUBJECT_INVALID.search(subject):
        return False
    if len(_checked_subjects) > _LIMIT:
        _checked_subjects.clear()
    _checked_subjects.add(subject)
    return True


def header_block(headers: dict[str, str]) -> bytes:
    """``NATS/1.0`` and the headers, as nats-py writes them; raises `HeaderKeyError` for a bad key."""
    for k in headers:
        if k not in _checked_keys:
            if not _HEADER_KEY.fullmatch(k):
                raise HeaderKeyError(k)
            if len(_checked_keys) > _LIMIT:
                _checked_keys.clear()
            _checked_keys.add(k)
    body = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
    if body.count("\n") != len(headers) or body.count("\r") != len(headers):  # a value held CR or LF
        body = "".join([f"{k}: {v.strip().translate(_NEWLINES)}\r\n" for k, v in headers.items()])
    return f"NATS/1.0\r\n{body}\r\n".encode()


def ack_position(reply: str) -> tuple[int, int]:
    """(stream sequence, times delivered) of a message a JetStream consumer delivered, read from its ack
    subject: ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``, or
    the v2 form with ``<domain>.<account hash>.`` after ``$JS.ACK.`` (and a token at the end).

    What nats-py's ``Msg.metadata`` gives, without the objects it builds for every message (a dataclass,
    two more and a datetime: a tenth of the router's planning time, measured)."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[4])
    if len(tokens) >= 11 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[7]), int(tokens[6])
    raise ValueError(f"Expected a JetStream ack subject, got {reply[:60]!r}")


def ack_pending(reply: str) -> int:
    """How many messages the consumer had left to deliver after this one (the ack subject's
    ``<pending>``; 0 for a subject that is not an ack subject)."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[8])
    if len(tokens) >= 11 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[10])
    return 0


def pub_cmd(subject: str, reply: str, payload: bytes) -> bytes:
    """``PUB <subject> [reply] <size>`` and the payload."""
    head = f"PUB {subject} {reply} {len(payload)}\r\n" if reply else f"PUB {subject} {len(payload)}\r\n"
    return head.encode() + payload + b"\r\n"


def hpub_cmd(subject: str, reply: str, headers: bytes, payload: bytes) -> bytes:
    """``HPUB <subject> [reply] <header size> <total size>``, the header block and the payload."""
    h = len(headers)
    head = (
        f"HPUB {subject} {reply} {h} {h + len(payload)}\r\n" if reply else f"HPUB {subject} {h} {h + len(payload)}\r\n"
    )
    return head.encode() + headers + payload + b"\r\n"


# nats-py's rules for a header name: ASCII, no whitespace (str.isspace: also \x1c-\x1f)
_NAME_INVALID = re.compile(r"[\s\x1c-\x1f]")
_names: dict[bytes, str | None] = {}  # names repeat (`Nats-Msg-Id`, `traceparent`): each read once


def _name(raw: bytes) -> str | None:
    name = _names.get(raw)
    if name is None and raw not in _names:
        try:
            name = raw.strip().decode("ascii")
        except UnicodeDecodeError:
            name = None
        if name is not None and _NAME_INVALID.search(name):
            name = None
        if len(_names) > _LIMIT:
            _names.clear()
        _names[raw] = name
    return name


def parse_headers(block: bytes | None) -> dict[str, str] | None:
    """A received message's header block as nats-py 2.16 reads it (``NATS._process_headers``, without
    its per-character loop): an inline status ``NATS/1.0 404 No Messages`` as ``Status`` (three
    digits) and ``Description``, then ``Name: value`` lines (a line without a colon, or a name that
    is not ASCII or holds whitespace, skipped; values stripped, malformed UTF-8 replaced); None for
    none."""
    if not block:
        return None
    out: dict[str, str] = {}
    lines = block.split(b"\r\n")
    first = lines[0]
    if first[8:9] == b" ":  # `NATS/1.0 <status>[ <description>]`
        status = first[9:12].strip().decode("ascii", "replace")
        if status.isdigit():
            out["Status"] = status
        description = first[13:]
        if description:
            out["Description"] = description.decode("utf-8", "replace")
    for line in lines[1:]:
        if not line:
            continue
        raw, sep, value = line.partition(b":")
        if not sep:
            continue
        name = _name(raw)
        if name is not None:
            out[name] = value.strip().decode("utf-8", "replace")
    return out or None
