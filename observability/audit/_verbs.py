"""What `samband audit verify|export` do, kept apart from the CLI that prints them.

Keys are pinned, never read from what is verified: the log's from ``--public-key`` or the
deployment's ``keys/audit-signing.vkey`` (or ``.pub``); the witnesses' from
``keys/witness-*.vkey`` or ``--witness-key``. An online verifier also remembers the last
checkpoint it verified (``<state>/audit-verified-<identity>.json``), so a log that was cut
or rolled back since is named even when every signature in it still holds.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
from pathlib import Path

import msgspec
import nats

from samband.schemas.layout import identity_agency

from .._errors import AuditKeyError
from ._checkpoint import PUBLIC_KEY_FILE, VKEY_FILE, load_verifier
from ._cosign import load_witness_verifiers
from ._entry import ENTRY_DECODER
from ._export import ExportHeader, write_export
from ._note import SIG_COSIGNATURE_V1, Verifier
from ._reading import read_log, read_view
from ._subset import SubsetResult, verify_subset
from ._verify import Problem, VerifyResult, verify_log

__all__ = ["Seen", "export_online", "pinned_verifier", "query_online", "verify_online", "witness_keys"]


def pinned_verifier(state_dir: Path, public_key: Path | None) -> Verifier:
    """The log's key to trust: ``--public-key`` (PEM or verifier key), else the deployment's."""
    if public_key is not None:
        return load_verifier(public_key)
    keys = Path(state_dir) / "keys"
    for name in (VKEY_FILE, PUBLIC_KEY_FILE):
        if (keys / name).exists():
            return load_verifier(keys / name)
    raise AuditKeyError(
        f"Expected the log's public key to pin (in {keys} or given with --public-key FILE); "
        "a key found inside what is verified is never trusted"
    )


def witness_keys(state_dir: Path, extra: tuple[Path, ...] = ()) -> list[Verifier]:
    out = load_witness_verifiers(Path(state_dir) / "keys")
    for path in extra:
        v = Verifier.parse(path.read_text())
        if v.sig_type != SIG_COSIGNATURE_V1:
            raise AuditKeyError(f"Expected a witness key (type 0x04) in {path}, got type 0x{v.sig_type:02x}")
        out.append(v)
    return out


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """The last checkpoint this verifier verified."""

    size: int
    root: str  # base64
    at: _dt.datetime


def _memory(state_dir: Path, identity: str) -> Path:
    return Path(state_dir) / f"audit-verified-{identity}.json"


def _remember(state_dir: Path, identity: str, result: VerifyResult | SubsetResult) -> None:
    path = _memory(state_dir, identity)
    data = msgspec.json.encode(
        Seen(size=result.size, root=base64.b64encode(result.root).decode(), at=_dt.datetime.now(_dt.UTC))
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _recall(state_dir: Path, identity: str, result: VerifyResult | SubsetResult) -> None:
    """A log that now ends before, or differs at, the checkpoint this verifier last verified."""
    path = _memory(state_dir, identity)
    if not path.exists():
        return
    try:
        seen = msgspec.json.decode(path.read_bytes(), type=Seen)
    except msgspec.DecodeError:
        return
    root = base64.b64decode(seen.root)
    when = seen.at.strftime("%Y-%m-%d %H:%M UTC")
    if seen.size > result.size:
        result.problems.insert(
            0,
            Problem(
                "truncated-tail",
                f"this verifier saw the log at size {seen.size} on {when}; its newest checkpoint now vouches for "
                f"{result.size}",
                index=result.size,
            ),
        )
    elif result.signed.get(seen.size, root) != root:
        result.problems.insert(
            0,
            Problem(
                "altered", f"the checkpoint at size {seen.size} differs from the one verified on {when}", seen.size
            ),
        )


async def verify_online(
    nc: nats.NATS,
    identity: str,
    state_dir: Path,
    verifier: Verifier,
    *,
    size: int | None = None,
    witnesses: list[Verifier] | None = None,
    quorum: int = 0,
    jobs: int | None = None,
) -> VerifyResult | SubsetResult | None:
    """Verify what ``identity`` may read of the log (None: the log is empty); ``jobs`` processes build
    the oversight's tree (by default one per core)."""
    agency = identity_agency(identity) if identity.startswith("auditor-") else None
    result: VerifyResult | SubsetResult
    if agency is not None:
        view = await read_view(nc, agency, identity)
        if not view.checkpoints:
            return None
        result = verify_subset(
            view.entries,
            verifier,
            checkpoints=view.checkpoints,
            leaves=view.leaves,
            size=size,
            agency=agency,
            cosignatures=view.cosignatures,
            witnesses=witnesses or [],
            quorum=quorum,
        )
        result.problems.extend(Problem("foreign", p) for p in view.problems)
        result.notes.extend(view.notes)
    else:
        log = await read_log(nc)
        if not log.checkpoints and not log.entries and not log.foreign:
            return None
        result = verify_log(log, verifier, size=size, witnesses=witnesses or [], quorum=quorum, jobs=jobs)
    if size is None and not quorum:
        _recall(state_dir, identity, result)
        if result.ok:
            _remember(state_dir, identity, result)
    return result


class _At(msgspec.Struct, forbid_unknown_fields=False):
    at: _dt.datetime | None = None


_AT = msgspec.json.Decoder(_At)


async def export_online(
    nc: nats.NATS,
    identity: str,
    out: Path,
    verifier: Verifier,
    *,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
) -> tuple[ExportHeader, VerifyResult | SubsetResult]:
    """Write what ``identity`` may read as an export (see `_export.py`); the header and the check made first."""
    agency = identity_agency(identity) if identity.startswith("auditor-") else None
    now = _dt.datetime.now(_dt.UTC)
    if agency is not None:
        view = await read_view(nc, agency, identity)
        result = verify_subset(view.entries, verifier, checkpoints=view.checkpoints, leaves=view.leaves, agency=agency)
        if not result.ok:
            return ExportHeader(exported_at=now, origin=verifier.name, size=0, scope="agency", entries=0), result
        keep = [e for e in view.entries if _in(e, since, until)]
        header = ExportHeader(
            exported_at=now,
            origin=verifier.name,
            size=result.size,
            scope="agency",
            entries=len(keep),
            agency=agency,
            since=since,
            until=until,
        )
        proofs = {i: p for i, p in result.proofs.items()}
        mine = {ENTRY_DECODER.decode(e).index for e in keep}
        write_export(
            out,
            header,
            keep,
            [note for _, note in view.checkpoints if _size_of(note) <= result.size],
            cosignatures=view.cosignatures,
            proofs={i: p for i, p in proofs.items() if i in mine},
        )
        return header, result
    log = await read_log(nc)
    check = verify_log(log, verifier)
    size = check.size
    entries = log.entries[:size]
    notes = [note for _, note in log.checkpoints if _size_of(note) <= size]
    if since is None and until is None:
        header = ExportHeader(exported_at=now, origin=verifier.name, size=size, scope="log", entries=len(entries))
        write_export(out, header, entries, notes, cosignatures=log.cosignatures, leaves=log.published[:size])
        return header, check
    inside = [i for i, e in enumerate(entries) if _in(e, since, until)]
    first, last = (inside[0], inside[-1]) if inside else (0, -1)
    header = ExportHeader(
        exported_at=now,
        origin=verifier.name,
        size=size,
        scope="window",
        entries=last - first + 1,
        first=first,
        last=last,
        since=since,
        until=until,
    )
    write_export(
        out, header, entries[first : last + 1], notes, cosignatures=log.cosignatures, leaves=log.published[:size]
    )
    return header, check


def _in(entry: bytes, since: _dt.datetime | None, until: _dt.datetime | None) -> bool:
    if since is None and until is None:
        return True
    try:
        at = _AT.decode(entry).at
    except msgspec.DecodeError:
        return False
    return at is not None and (since is None or at >= since) and (until is None or at <= until)


def _size_of(note: bytes) -> int:
    try:
        return int(note.split(b"\n", 2)[1])
    except (IndexError, ValueError):
        return -1


async def query_online(
    nc: nats.NATS,
    state_dir: Path,
    identity: str,
    verifier: Verifier,
    filters: dict,
    *,
    reindex: bool = False,
    from_stream: bool = False,
    progress=None,
) -> tuple[list[bytes], int]:
    """What `samband audit query` does against the broker: (exact bytes of the hits, entries indexed)."""
    import shutil

    from ._indexed import indexed_query
    from ._store import IndexStore, index_dir

    path = index_dir(state_dir, identity)
    if reindex and path.exists():
        shutil.rmtree(path)
    with IndexStore(path) as store:
        stored = await indexed_query(
            nc, store, verifier, identity, progress=progress, from_stream=from_stream, **filters
        )
        return stored, store.count
