"""Verify an audit trail from its stored bytes: the hash chain, the sequence, the signed checkpoints.

The fast path never decodes a record: it reads the previous hash at a fixed offset
(``PREV_SLICE``) and hashes the exact stored bytes. Only when something is wrong does a
slower pass read sequences to say *what* is wrong and *where*: a record altered,
removed, reordered or inserted, or a checkpoint whose signature does not hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from samband.schemas.layout import AUDIT_RECORD_PREV as _PREV
from samband.schemas.layout import AUDIT_RECORD_SEQ_AT

from ._checkpoint import CHECKPOINT_DECODER, Checkpoint, checkpoint_signature_ok
from ._record import GENESIS

__all__ = ["Problem", "VerifyResult", "chain_head", "locate", "record_seq", "verify_bytes"]

_SEQ_AT = AUDIT_RECORD_SEQ_AT
_LOOKAHEAD = 256  # how far a reordered record is looked for


@dataclass(frozen=True)
class Problem:
    """What is wrong (``altered``, ``removed``, ``reordered``, ``inserted``, ``bad-checkpoint``), from
    which sequence."""

    kind: str
    seq: int
    detail: str


@dataclass(frozen=True)
class VerifyResult:
    count: int
    first_seq: int
    last_seq: int
    head: str
    checkpoints: int
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.problem is None:
            if not self.count:
                return f"OK: empty trail, {self.checkpoints} checkpoints"
            return (
                f"OK: {self.count} records (seq {self.first_seq}..{self.last_seq}), head {self.head}, "
                f"{self.checkpoints} signed checkpoints verified"
            )
        p = self.problem
        return f"FAILED at seq {p.seq}: {p.kind}: {p.detail}"


def record_seq(data: bytes) -> int:
    """A stored record's sequence, read from the bytes (it follows ``prev`` at a fixed offset)."""
    try:
        return int(data[_SEQ_AT : data.index(b",", _SEQ_AT)])
    except ValueError:
        return -1


def _decode_checkpoints(items: Sequence[Checkpoint | bytes]) -> tuple[list[Checkpoint], Problem | None]:
    out: list[Checkpoint] = []
    for i, item in enumerate(items):
        if isinstance(item, Checkpoint):
            out.append(item)
            continue
        try:
            out.append(CHECKPOINT_DECODER.decode(item))
        except msgspec.DecodeError as exc:
            return out, Problem("bad-checkpoint", -1, f"checkpoint #{i + 1} cannot be read: {exc}")
    out.sort(key=lambda c: c.seq)
    return out, None


def verify_bytes(
    records: Sequence[bytes],
    checkpoints: Sequence[Checkpoint | bytes] = (),
    public_key: Ed25519PublicKey | None = None,
    *,
    anchor: str | None = GENESIS,
) -> VerifyResult:
    """Check ``records`` (exact stored bytes, in stored order) and ``checkpoints``.

    ``anchor`` is the ``prev`` the first record must carry: ``GENESIS`` for a whole trail,
    ``None`` for a slice whose start is vouched for only by a checkpoint just before it
    (used when present) or not at all. Checkpoints need ``public_key``.
    """
    cps, problem = _decode_checkpoints(checkpoints)
    problems: list[Problem] = [problem] if problem else []
    if cps and public_key is None:
        problems.append(Problem("bad-checkpoint", cps[0].seq, "checkpoints given but no public key to check them"))
    elif public_key is not None:
        for cp in cps:
            if not checkpoint_signature_ok(cp, public_key):
                problems.append(
                    Problem(
                        "bad-checkpoint",
                        cp.seq,
                        f"checkpoint at seq {cp.seq} (head {cp.head[:16]}…) has a bad signature",
                    )
                )
                break
    good_cps = [cp for cp in cps if not any(p.kind == "bad-checkpoint" and p.seq == cp.seq for p in problems)]

    n = len(records)
    if n == 0:
        if good_cps:
            problems.append(
                Problem("removed", 1, f"the trail is empty but a signed checkpoint vouches for seq {good_cps[-1].seq}")
            )
        return _result(0, 0, 0, anchor or GENESIS, len(cps), problems)

    first_seq = record_seq(records[0])
    if anchor is None and first_seq == 1:
        anchor = GENESIS
    if anchor is None:
        before = [cp for cp in good_cps if cp.seq == first_seq - 1]
        anchor = before[0].head if before else records[0][_PREV].decode("ascii", "replace")
    expected_first = 1 if anchor == GENESIS else first_seq

    # ---- fast path: one sha256 per record over the stored bytes, nothing decoded
    head = chain_head(records, anchor.encode())
    last_seq = record_seq(records[-1])
    if head is not None and first_seq == expected_first and last_seq == first_seq + n - 1:
        problems.extend(_check_against_checkpoints(records, first_seq, good_cps))
    else:
        problems.append(locate(records, anchor.encode(), expected_first))
        head = hashlib.sha256(records[-1]).hexdigest().encode()
    return _result(n, first_seq, last_seq, head.decode(), len(cps), problems)


def chain_head(records: Iterable[bytes], head: bytes) -> bytes | None:
    """The hex sha256 of the last record if every record's ``prev`` (``_PREV``) is the hash of the
    one before it (the first's is ``head``); None at the first link that does not hold.

    The hot loop of `verify`: per record one slice compare and one hash of the stored bytes, no
    decoding, no call of ours. Why it is written so (measured in `samband bench audit`):
    a sha256 object copied from a fresh one is cheaper to get than a new one (OpenSSL 3 sets
    up a context on every construction), and the sequence is not read per record: a chain that
    holds fixes every record's place, so only the first and last sequence are checked.
    """
    new = hashlib.sha256().copy
    for data in records:
        if data[_PREV] != head:
            return None
        h = new()
        h.update(data)
        head = h.hexdigest().encode()
    return head


def _result(n: int, first: int, last: int, head: str, ncp: int, problems: list[Problem]) -> VerifyResult:
    problems = [p for p in problems if p is not None]
    first_problem = min(problems, key=lambda p: p.seq) if problems else None
    return VerifyResult(n, first, last, head, ncp, first_problem)


def _check_against_checkpoints(records: Sequence[bytes], first_seq: int, cps: list[Checkpoint]) -> list[Problem]:
    """The chain holds together; does it still meet every signed head?"""
    last_seq = first_seq + len(records) - 1
    good_upto = first_seq - 1
    for cp in cps:
        if cp.seq < first_seq:
            continue
        if cp.seq > last_seq:
            return [
                Problem(
                    "removed",
                    last_seq + 1,
                    f"records after seq {last_seq} are missing: a signed checkpoint vouches for seq {cp.seq}",
                )
            ]
        data = records[cp.seq - first_seq]
        if hashlib.sha256(data).hexdigest() != cp.head:
            return [
                Problem(
                    "altered",
                    good_upto + 1,
                    f"the chain was rewritten between seq {good_upto + 1} and seq {cp.seq}: "
                    f"its head no longer matches the signed checkpoint at seq {cp.seq}",
                )
            ]
        good_upto = cp.seq
    return []


def locate(records: Sequence[bytes], anchor: bytes, expected: int) -> Problem:
    """The slow pass: walk sequence and chain together and name the first thing that is wrong."""
    sha = hashlib.sha256
    n = len(records)
    head = anchor
    prev_prev = None  # the prev of the last good record

    def h(d: bytes) -> bytes:
        return sha(d).hexdigest().encode()

    for i, data in enumerate(records):
        seq, prev = record_seq(data), data[_PREV]
        if seq == expected and prev == head:
            prev_prev, head, expected = prev, h(data), expected + 1
            continue
        nxt = records[i + 1] if i + 1 < n else None
        if nxt is not None and record_seq(nxt) == expected and nxt[_PREV] == head:
            after = records[i + 2] if i + 2 < n else None
            if after is not None and after[_PREV] == h(data):
                return Problem(
                    "reordered",
                    expected,
                    f"seq {expected} is stored at position {i + 2}, after seq {seq} at position {i + 1}",
                )
            window = range(i + 1, min(n, i + 1 + _LOOKAHEAD))
            if (
                seq > expected
                and not any(record_seq(records[j]) == seq for j in window)
                and _chains_into(records, data, seq, h)
            ):
                return Problem("reordered", expected, f"seq {seq} is stored at position {i + 1}, before seq {expected}")
            return Problem(
                "inserted",
                expected,
                f"an extra record (claiming seq {seq}) sits at position {i + 1}, before seq {expected}; "
                f"seq {expected} continues the chain from seq {expected - 1}",
            )
        if seq < expected:
            if prev == head:
                return Problem(
                    "altered",
                    expected,
                    f"the record at position {i + 1} chains from seq {expected - 1} but claims seq {seq}",
                )
            if seq == expected - 1 and prev == prev_prev:
                return Problem(
                    "inserted",
                    seq,
                    f"two records claim seq {seq} (positions {i} and {i + 1}); the chain continues from "
                    f"the one at position {i + 1}, so the one at position {i} was inserted",
                )
            return Problem("inserted", seq, f"a record at position {i + 1} repeats seq {seq}, already seen")
        if seq > expected:
            if prev == head and (nxt is None or nxt[_PREV] != h(data)):
                return Problem(
                    "altered",
                    expected,
                    f"the record at position {i + 1} chains from seq {expected - 1} but claims seq {seq}",
                )
            for j in range(i + 1, min(n, i + 1 + _LOOKAHEAD)):
                if record_seq(records[j]) == expected:
                    return Problem(
                        "reordered",
                        expected,
                        f"seq {expected} is stored at position {j + 1}, after seq {seq} at position {i + 1}",
                    )
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            return Problem("removed", expected, f"{missing} missing: seq {seq} follows seq {expected - 1}")
        # right sequence, wrong prev: either the previous record was altered, or this one was
        if i > 0 and (nxt is None or nxt[_PREV] == h(data)):
            return Problem(
                "altered",
                expected - 1,
                f"the stored bytes of seq {expected - 1} no longer hash to the prev recorded by seq {expected}",
            )
        what = (
            "does not continue from genesis" if anchor == GENESIS.encode() else f"is not the hash of seq {expected - 1}"
        )
        return Problem(
            "altered",
            expected,
            f"seq {expected} was altered: its prev {what}"
            if i == 0
            else f"seq {expected} was altered: its prev does not match seq {expected - 1}",
        )
    return Problem("altered", expected, "the chain does not hold together")


def _chains_into(records: Sequence[bytes], data: bytes, seq: int, h) -> bool:
    """Is ``data`` the genuine record ``seq`` (the record after it, wherever stored, names its hash)?"""
    digest = h(data)
    return any(record_seq(r) == seq + 1 and r[_PREV] == digest for r in records) or seq == record_seq(records[-1])
