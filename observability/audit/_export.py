"""The export file: evidence that can be checked offline with nothing but the log's pinned key.

JSON lines. Line 1 is the header: what it covers (``scope``: the whole ``log``, a ``window``
of indexes ``first``..``last``, or one ``agency``'s entries) and the tree ``size`` it is
checked against. Then the checkpoint notes as stored (the one for ``size`` among them), the
witnesses' cosignatures, each entry's exact stored bytes (each line starts ``{"kind":``,
nothing re-encoded), and what proves them: all leaf hashes (``log`` and ``window``: any single
change is then named at its index) or one inclusion proof per entry (``agency``). No public
key is written into it: a verifier that trusted a key found in the file would accept a log
re-signed by anyone; `samband audit verify --file` takes the deployment's key or ``--public-key``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ._errors import AuditError
from ._subset import SubsetResult, verify_subset
from ._verify import LogData, Problem, VerifyResult, verify_log

__all__ = ["EXPORT_FORMAT", "Export", "ExportError", "ExportHeader", "read_export", "verify_export", "write_export"]

EXPORT_FORMAT = "samband-audit-export/2"
_LEAVES_PER_LINE = 1024


class ExportError(AuditError):
    """A file that cannot be read as an audit export."""


class ExportHeader(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format: str = EXPORT_FORMAT
    exported_at: _dt.datetime
    origin: str
    size: int  # the tree size it covers: its checkpoint for this size is in the file
    scope: str  # "log" | "window" | "agency"
    entries: int
    agency: str | None = None
    first: int | None = None
    last: int | None = None
    since: _dt.datetime | None = None
    until: _dt.datetime | None = None


class _HeaderLine(msgspec.Struct, forbid_unknown_fields=True):
    export: ExportHeader


class _Leaves(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    first: int
    hashes: str  # base64 of the concatenated 32-byte hashes


class _Proof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    index: int
    hashes: list[str]


class _Other(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    checkpoint: str | None = None
    cosignature: str | None = None
    leaves: _Leaves | None = None
    proof: _Proof | None = None


_HEADER = msgspec.json.Decoder(_HeaderLine)
_OTHER = msgspec.json.Decoder(_Other)
_encode = msgspec.json.Encoder().encode


@dataclass
class Export:
    header: ExportHeader
    entries: list[bytes] = field(default_factory=list)
    checkpoints: list[tuple[str, bytes]] = field(default_factory=list)  # (where in the file, note)
    cosignatures: list[bytes] = field(default_factory=list)
    leaves: list[bytes] | None = None
    proofs: dict[int, list[bytes]] = field(default_factory=dict)


def write_export(
    path: Path,
    header: ExportHeader,
    entries: list[bytes],
    checkpoints: list[bytes],
    *,
    cosignatures: list[bytes] = (),  # type: ignore[assignment]
    leaves: list[bytes] | None = None,
    proofs: dict[int, list[bytes]] | None = None,
) -> int:
    """Write the export; the number of entries written."""
    with open(path, "wb") as f:
        f.write(_encode(_HeaderLine(header)) + b"\n")
        for note in checkpoints:
            f.write(_encode(_Other(checkpoint=note.decode())) + b"\n")
        for note in cosignatures:
            f.write(_encode(_Other(cosignature=note.decode())) + b"\n")
        for data in entries:
            f.write(data + b"\n")
        if leaves is not None:
            for lo in range(0, len(leaves), _LEAVES_PER_LINE):
                blob = base64.b64encode(b"".join(leaves[lo : lo + _LEAVES_PER_LINE])).decode()
                f.write(_encode(_Other(leaves=_Leaves(lo, blob))) + b"\n")
        for index, proof in sorted((proofs or {}).items()):
            line = _Other(proof=_Proof(index, [base64.b64encode(h).decode() for h in proof]))
            f.write(_encode(line) + b"\n")
    return len(entries)


def read_export(path: Path) -> Export:
    """Read an export back, entries' bytes untouched. Nothing in it is trusted here, only parsed."""
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except OSError as exc:
        raise ExportError(f"Expected an audit export at {path}, could not read it: {exc.strerror}") from exc
    try:
        header = _HEADER.decode(lines[0]).export
    except msgspec.DecodeError as exc:
        raise ExportError(f"Expected an audit export header ({EXPORT_FORMAT}) on line 1 of {path}: {exc}") from None
    if header.format != EXPORT_FORMAT:
        raise ExportError(f"Expected format `{EXPORT_FORMAT}`, got `{header.format}` - at line 1 of {path}")
    out = Export(header)
    leaves: dict[int, bytes] = {}
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        if line.startswith(b'{"kind":'):
            out.entries.append(line)
            continue
        try:
            other = _OTHER.decode(line)
            if other.checkpoint is not None:
                out.checkpoints.append((f"line {n}", other.checkpoint.encode()))
            elif other.cosignature is not None:
                out.cosignatures.append(other.cosignature.encode())
            elif other.leaves is not None:
                blob = base64.b64decode(other.leaves.hashes, validate=True)
                for k in range(0, len(blob) - len(blob) % 32, 32):
                    leaves[other.leaves.first + k // 32] = blob[k : k + 32]
            elif other.proof is not None:
                out.proofs[other.proof.index] = [base64.b64decode(h, validate=True) for h in other.proof.hashes]
            else:
                raise ExportError(f"Expected an entry, a checkpoint, leaf hashes or a proof - at line {n} of {path}")
        except (msgspec.DecodeError, binascii.Error) as exc:
            raise ExportError(
                f"Expected an entry, a checkpoint, leaf hashes or a proof - at line {n} of {path}: {exc}"
            ) from None
    if leaves:
        out.leaves = [leaves[i] for i in range(len(leaves)) if i in leaves]
        if len(out.leaves) != len(leaves):
            raise ExportError(f"Expected leaf hashes from 0 on without a gap, got {len(leaves)} scattered - in {path}")
    return out


def verify_export(ex: Export, verifier, *, witnesses=(), quorum: int = 0):
    """Check an export against the pinned ``verifier``: the whole log, or its part with its proofs."""
    h = ex.header
    result: VerifyResult | SubsetResult
    if h.scope == "log":
        data = LogData(list(ex.entries), list(ex.leaves or []), 0, list(ex.checkpoints), list(ex.cosignatures))
        result = verify_log(data, verifier, size=h.size, witnesses=witnesses, quorum=quorum)
    else:
        result = verify_subset(
            ex.entries,
            verifier,
            checkpoints=ex.checkpoints,
            leaves=ex.leaves,
            proofs=ex.proofs or None,
            size=h.size,
            agency=h.agency if h.scope == "agency" else None,
            span=(h.first, h.last) if h.scope == "window" and h.first is not None and h.last is not None else None,
            cosignatures=ex.cosignatures,
            witnesses=witnesses,
            quorum=quorum,
        )
    if result.ok and result.size != h.size:
        result.problems.append(
            Problem("truncated-tail", f"the export states tree size {h.size}; its checkpoints vouch for {result.size}")
        )
    if result.ok and h.scope == "log" and result.entries != h.size:
        result.problems.append(Problem("truncated-tail", f"the export states {h.size} entries, holds {result.entries}"))
    return result
