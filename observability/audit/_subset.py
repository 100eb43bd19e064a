"""Verify part of the log: an agency's own entries, or a window of it, each by an inclusion proof.

What an agency's security chief can prove without seeing anyone else's entries: every entry in
its view is the entry the log holds at that index (its leaf hash, by an RFC 9162 inclusion
proof, leads to a root signed by the pinned key), every leaf hash read meets every checkpoint,
and each entry is about the agency (origin or recipient). The proofs are made from the public
leaf hashes (online) or carried in an export, one per entry (offline). A window export
(``span``) must also hold every index of its window, in order. What it cannot prove: that the
writer put every one of the agency's decisions in its view (the oversight's `verify` checks
the log as a whole).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from samband.schemas.layout import identity_agency

from ._entry import ENTRY_DECODER, AuditRecord, Lookup
from ._note import Verifier
from ._proof import inclusion_proof, verify_inclusion
from ._tree import EMPTY_ROOT, TreeLevels, leaf_hash
from ._verify import Problem, choose_target, claimed_index, cosigned_by, first_mismatch, open_checkpoints

__all__ = ["SubsetResult", "verify_subset"]


@dataclass
class SubsetResult:
    size: int = 0
    root: bytes = EMPTY_ROOT
    entries: int = 0
    leaves: int = 0
    checkpoints: int = 0
    origin: str = ""
    key_id: str = ""
    agency: str | None = None
    cosigned: dict[str, int] = field(default_factory=dict)
    proofs: dict[int, list[bytes]] = field(default_factory=dict)  # each entry's inclusion proof, checked
    signed: dict[int, bytes] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is not wrong but is worth knowing

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.problems:
            return str(self.problems[0])
        whose = f" of {self.agency} (origin or recipient)" if self.agency else ""
        leaves = f"; {self.leaves} leaf hashes meet" if self.leaves else "; the log's key signed"
        return (
            f"OK: {self.entries} entries{whose}, each included in the tree of size {self.size} "
            f"(root {base64.b64encode(self.root).decode()}) by its inclusion proof{leaves} "
            f"{self.checkpoints} signed checkpoints (log {self.origin}, key {self.key_id})"
        )


def verify_subset(
    entries: Sequence[bytes],
    verifier: Verifier,
    *,
    checkpoints: Sequence[tuple[str, bytes]],
    leaves: Sequence[bytes] | None = None,
    proofs: dict[int, list[bytes]] | None = None,
    size: int | None = None,
    agency: str | None = None,
    span: tuple[int, int] | None = None,
    cosignatures: Sequence[bytes] = (),
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
) -> SubsetResult:
    """Check ``entries`` (exact bytes) are in the log the pinned ``verifier`` signed (see the module)."""
    out = SubsetResult(origin=verifier.name, key_id=verifier.key_id.hex(), agency=agency)
    cps = open_checkpoints(checkpoints, verifier, out.problems)
    if not cps:
        out.problems.insert(0, Problem("no-checkpoint", f"no checkpoint signed by key {out.key_id}"))
        return out
    cosigned = cosigned_by(cosignatures, cps, verifier.name, witnesses, out.problems) if quorum else {}
    target = choose_target(cps, size, out.problems, quorum, cosigned)
    if target is None:
        return out
    out.size, out.root, out.checkpoints, out.cosigned = target, cps[target], len(cps), cosigned.get(target, {})
    out.signed = cps
    levels = None
    if leaves is not None:
        sizes = sorted(s for s in cps if s <= target)
        if len(leaves) < target:
            out.problems.insert(
                0, Problem("truncated-tail", f"{len(leaves)} leaf hashes read, {target} signed", len(leaves))
            )
            return out
        bad = first_mismatch(list(leaves[:target]), cps, sizes)
        if bad is not None:
            out.problems.insert(
                0, Problem("altered", f"the published leaf hashes do not meet the signed checkpoint at size {bad}", bad)
            )
            return out
        out.leaves = target
        levels = TreeLevels(leaves[:target])
    expect = span[0] if span else None
    seen: set[int] = set()
    for p, data in enumerate(entries):
        claim = claimed_index(data)
        if claim is None:
            out.problems.append(Problem("altered", f"the entry at position {p} cannot be read", expect))
            break
        if claim >= target:
            continue  # newer than the checkpoint verified
        if claim in seen:
            out.problems.append(Problem("inserted", f"a second entry claiming index {claim} at position {p}", claim))
            break
        if expect is not None and claim != expect:
            kind = "removed" if claim > expect else "reordered"
            what = f"entries {expect}..{claim - 1} are missing" if claim > expect else f"entry {claim} comes late"
            out.problems.append(Problem(kind, f"{what} (position {p})", expect))
            break
        seen.add(claim)
        h = leaf_hash(data)
        proof = (proofs or {}).get(claim)
        if proof is None and levels is not None:
            proof = inclusion_proof(claim, target, levels.subtree)
            if levels.leaf(claim) != h:
                proof = None
        if proof is None or not verify_inclusion(claim, target, h, proof, out.root):
            out.problems.append(
                Problem("altered", f"entry {claim} is not the entry the log holds at {claim} (no inclusion)", claim)
            )
            break
        out.proofs[claim] = proof
        if agency is not None and not _about(data, agency):
            out.problems.append(
                Problem("foreign", f"entry {claim} is in {agency}'s view but not about {agency}", claim)
            )
            break
        if expect is not None:
            expect += 1
    if span is not None and expect is not None and expect <= min(span[1], target - 1) and not out.problems:
        out.problems.append(Problem("truncated-tail", f"entries {expect}..{span[1]} of the window are missing", expect))
    out.entries = len(out.proofs)
    return out


def _about(data: bytes, agency: str) -> bool:
    try:
        rec = ENTRY_DECODER.decode(data)
    except msgspec.DecodeError:
        return False
    if isinstance(rec, Lookup):
        return identity_agency(rec.identity) == agency
    return isinstance(rec, AuditRecord) and agency in (rec.origin, rec.recipient)
