"""A signed export of a selection: the entries a filter picked, each with its inclusion proof.

`samband console` exports "the current filter" for a case file: the entries as the index holds
them (exact bytes, each hashed again against its leaf), the signed checkpoint of the tree they
are proven in, the witnesses' cosignatures, and one RFC 9162 inclusion proof per entry made from
the index's leaf hashes. An agency's auditor writes scope ``agency`` (so `verify --file` also
checks each entry is about the agency); the oversight writes scope ``selection``, which
`verify_export` checks entry by entry the same way. Like every export of part of the log, it
cannot show that entries outside the filter exist; it shows each one inside is in the signed log.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ._checkpoint import open_checkpoint
from ._errors import NoteError
from ._export import ExportHeader, write_export
from ._note import Verifier
from ._proof import inclusion_proof
from ._store import IndexStore, TrailProblem
from ._tree import TreeLevels

__all__ = ["write_selection"]


def write_selection(
    out: Path,
    store: IndexStore,
    entries: list[tuple[int, bytes]],
    checkpoint: bytes,
    verifier: Verifier,
    *,
    agency: str | None,
    cosignatures: list[bytes] = (),  # type: ignore[assignment]
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
) -> ExportHeader:
    """Write ``entries`` ((index, stored bytes), checked by the caller's page reads) proven against
    ``checkpoint``, the signed note of the tree the index holds."""
    try:
        cp, _ = open_checkpoint(checkpoint, verifier)
    except NoteError as exc:
        raise TrailProblem("bad-checkpoint", "the newest checkpoint", str(exc)) from exc
    if (cp.size, cp.root) != (store.size, store.root):
        raise TrailProblem(
            "altered", f"tree size {cp.size}", f"the checkpoint does not sign the tree indexed (size {store.size})"
        )
    with open(store.path / "leaves.dat", "rb") as f:
        data = f.read(32 * store.size)
    levels = TreeLevels([data[i : i + 32] for i in range(0, len(data), 32)])
    proofs = {i: inclusion_proof(i, store.size, levels.subtree) for i, _ in entries}
    header = ExportHeader(
        exported_at=_dt.datetime.now(_dt.UTC),
        origin=verifier.name,
        size=store.size,
        scope="agency" if agency else "selection",
        entries=len(entries),
        agency=agency,
        since=since,
        until=until,
    )
    write_export(out, header, [e for _, e in entries], [checkpoint], cosignatures=list(cosignatures), proofs=proofs)
    return header
