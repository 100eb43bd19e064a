"""A proposed decision as a file: what `samband decision ... --dry-run --out FILE` writes and
`samband policy impact FILE` reads, so a council can see a decision's effect on the trail before
it is published (and publish exactly the bytes it looked at).

The file is JSON: ``format`` (`FORMAT`), ``council``, ``signature`` (the `Samband-Signature`
header) and ``body`` (the exact signed envelope, as text). Reading it checks the shape only;
`LivePolicy.preview` then checks it exactly as the router would admit it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ._councils import COUNCIL_HEADER, SIGNATURE_HEADER
from ._errors import PolicyError

__all__ = ["FORMAT", "read_decision_file", "write_decision_file"]

FORMAT = "samband-decision/1"
MAX_FILE_BYTES = 128 * 1024  # a decision is at most 64 KiB; its JSON string with escapes stays under this


class _DecisionFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format: str
    council: str
    signature: str | None = None  # absent: unsigned, which the router refuses
    body: str


_DECODER = msgspec.json.Decoder(_DecisionFile)


def write_decision_file(path: Path, body: bytes, headers: dict[str, str]) -> None:
    data = _DecisionFile(
        format=FORMAT, council=headers[COUNCIL_HEADER], signature=headers[SIGNATURE_HEADER], body=body.decode()
    )
    path.write_bytes(msgspec.json.format(msgspec.json.encode(data)) + b"\n")


def read_decision_file(path: Path) -> tuple[bytes, dict[str, str]]:
    """The signed body and its headers, or `PolicyError` naming the file, the key and what was wrong."""
    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise PolicyError(f"{path}: Expected a readable decision file, got {exc.strerror}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyError(f"{path}: Expected a decision file of at most {MAX_FILE_BYTES} bytes, got more")
    try:
        f = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    if f.format != FORMAT:
        raise PolicyError(f"{path}: Expected `{FORMAT}`, got `{f.format[:40]}` - at `$.format`")
    headers = {COUNCIL_HEADER: f.council}
    if f.signature is not None:
        headers[SIGNATURE_HEADER] = f.signature
    return f.body.encode(), headers
