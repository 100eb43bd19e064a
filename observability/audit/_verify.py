"""Verify the log: recompute the tree from the entries' exact bytes and meet every signed checkpoint.

`verify_log` takes what was read (from the stream, `_reading.py`, or an export, `_export.py`):
the entries in stored order, the published leaf hashes (indexed by leaf), the checkpoints as
stored and the foreign messages, and checks with the **pinned** log key only:

1. every checkpoint is a note signed by that key (else ``bad-checkpoint``); two for one size
   agree; at least one exists;
2. the size verified is the newest checkpoint's (or the smallest at or above ``size``): entries
   after it are still being written and are not looked at; fewer entries than it vouches for is
   ``truncated-tail``;
3. the fast path: every entry's leaf hash, the tree grown from them, its root at every
   checkpoint's size equal to the signed root; the published leaf hashes equal to the entries';
4. otherwise the slow path names the first leaf that is wrong and how: ``altered``,
   ``removed``, ``reordered``, ``inserted``, ``truncated-front``; by the published leaf
   hashes where they still meet the checkpoints (each entry's exact place is known), else by
   what each entry claims (``index``) and the first checkpoint the entries fail to meet.

Foreign messages (`_stream.Foreign`) are named by stream sequence; an append cut short before its
checkpoint, which is not in the log and changes nothing in it, in ``notes``. The result says all of it;
``str(result)`` is the one line `samband audit verify` prints first.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from ._checkpoint import open_checkpoint
from ._cosign import verify_cosignatures, witness_of
from ._errors import NoteError
from ._note import Verifier
from ._parallel import tree_of_parts
from ._stream import Foreign, unfinished_notes
from ._tree import EMPTY_ROOT, CompactRange, TreeLevels, leaf_hashes

__all__ = [
    "LogData",
    "Problem",
    "VerifyResult",
    "choose_target",
    "cosigned_by",
    "open_checkpoints",
    "verify_log",
]


class LogData:
    """What a verifier read: entries in stored order (given, or kept whole in their bundles and cut
    out only when asked for), the published leaf hashes of leaves ``published_first`` onwards,
    checkpoints and cosignatures as stored, foreign messages, and why the front is gone, if known."""

    def __init__(
        self,
        entries: list[bytes] | None = None,
        published: list[bytes] | None = None,
        published_first: int = 0,
        checkpoints: list[tuple[str, bytes]] | None = None,  # (where it was found, note as stored)
        cosignatures: list[bytes] | None = None,
        foreign: list[Foreign] | None = None,
        front: str = "",
        parts: list[tuple[bytes, int]] | None = None,  # (bundle, offset of its first entry)
        counted: int = 0,  # how many entries the bundles' headers say they hold
    ) -> None:
        self._entries = entries
        self.parts = parts or []
        self.part_counts: list[int] = []  # what each bundle's header says it holds (to share out the hashing)
        self.counted = counted
        self.published = published if published is not None else []
        # The same hashes where their tiles hold them (one buffer a tile, not copied), filled beside `published`
        # by a reader of tiles (`log_from_messages`); empty where `published` came otherwise. Joined,
        # they are compared without touching each hash object: 0.5 ms over 100,000 leaves against
        # 5.6-8.5 ms for joining the objects right after the tree's hashing left them out of cache.
        self.published_raw: list[bytes | memoryview] = []
        self.published_first = published_first
        self.checkpoints = checkpoints if checkpoints is not None else []
        self.cosignatures = cosignatures if cosignatures is not None else []
        self.foreign = foreign if foreign is not None else []
        self.front = front

    @property
    def entries(self) -> list[bytes]:
        if self._entries is None:
            self._entries = [e for data, off in self.parts for e in data[off:].split(b"\n")]
        return self._entries

    @entries.setter
    def entries(self, value: list[bytes]) -> None:
        self._entries, self.parts = value, []

    def count(self) -> int:
        return len(self._entries) if self._entries is not None else self.counted

    def tree(self, jobs: int | None = None) -> TreeLevels:
        """The tree over every entry's leaf hash, in stored order (hashed in place in the bundles when
        kept whole, on ``jobs`` processes, by default one per core: `_parallel.py`)."""
        if self._entries is None:
            return tree_of_parts(self.parts, self.part_counts, jobs)
        return TreeLevels(leaf_hashes(self._entries))


@dataclass(frozen=True)
class Problem:
    """What is wrong (``kind``) and where: a leaf ``index``, or a stream sequence ``seq``."""

    kind: str
    detail: str
    index: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = f"entry {self.index}" if self.index is not None else f"stream seq {self.seq}" if self.seq else "log"
        return f"FAILED at {where}: {self.kind}: {self.detail}"


@dataclass
class VerifyResult:
    size: int = 0
    root: bytes = EMPTY_ROOT
    entries: int = 0
    checkpoints: int = 0
    origin: str = ""
    key_id: str = ""
    cosigned: dict[str, int] = field(default_factory=dict)  # witness agency -> cosignature time, on `size`
    signed: dict[int, bytes] = field(default_factory=dict)  # every signed root, by tree size
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is not wrong but is worth knowing

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def __str__(self) -> str:
        if self.problems:
            return str(self.problems[0])
        root = base64.b64encode(self.root).decode()
        return (
            f"OK: {self.entries} entries, tree size {self.size}, root {root}, "
            f"{self.checkpoints} signed checkpoints verified (log {self.origin}, key {self.key_id})"
        )


class _Index(msgspec.Struct, forbid_unknown_fields=False):
    index: int = -1


_INDEX = msgspec.json.Decoder(_Index)


def claimed_index(data: bytes) -> int | None:
    try:
        i = _INDEX.decode(data).index
    except msgspec.DecodeError:
        return None
    return i if i >= 0 else None


def verify_log(
    log: LogData,
    verifier: Verifier,
    *,
    size: int | None = None,
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
    jobs: int | None = None,
) -> VerifyResult:
    """Check ``log`` against the pinned ``verifier`` (see the module's docstring); the tree is built on
    ``jobs`` processes (by default one per core)."""
    result = VerifyResult(origin=verifier.name, key_id=verifier.key_id.hex())
    cps = open_checkpoints(log.checkpoints, verifier, result.problems)
    result.problems.extend(Problem("foreign", f.why, seq=f.seq) for f in log.foreign if not f.unfinished)
    result.notes.extend(unfinished_notes(log.foreign))
    if not cps:
        what = f"{len(log.entries)} entries" if log.entries else "no entries"
        result.problems.insert(0, Problem("no-checkpoint", f"{what} and no checkpoint signed by key {result.key_id}"))
        return result
    cosigned = cosigned_by(log.cosignatures, cps, verifier.name, witnesses, result.problems) if quorum else {}
    target = choose_target(cps, size, result.problems, quorum, cosigned)
    if target is None:
        return result
    result.cosigned = cosigned.get(target, {})
    result.signed = cps
    result.size = target
    result.root = cps[target]
    result.checkpoints = len(cps)
    sizes = sorted(s for s in cps if s <= target)
    tree = log.tree(jobs)
    n = tree.size
    result.entries = min(n, target)
    if n >= target and all(tree.root(s) == cps[s] for s in sizes) and _published_agree(log, tree, target):
        return result
    every = tree.leaves()
    published_bad = _published_mismatch(log, every[:target])
    problem = _locate(log, every, cps, sizes, target)
    if problem is None and published_bad is not None:
        problem = Problem(
            "altered",
            f"the published leaf hash of entry {published_bad} is not its entry's hash",
            index=published_bad,
        )
    result.problems.insert(0, problem or Problem("altered", "the entries do not meet the signed checkpoints"))
    result.problems.sort(key=lambda p: (p.seq is not None, p.index or 0))
    return result


def open_checkpoints(
    checkpoints: Sequence[tuple[str, bytes]], verifier: Verifier, problems: list[Problem]
) -> dict[int, bytes]:
    """Size -> root of every checkpoint the pinned key signed; each other one, and a fork, is a problem."""
    cps: dict[int, bytes] = {}
    for where, note in checkpoints:
        try:
            cp, _ = open_checkpoint(note, verifier)
        except NoteError as exc:
            problems.append(Problem("bad-checkpoint", f"the checkpoint at {where}: {exc}"))
            continue
        if cps.get(cp.size, cp.root) != cp.root:
            problems.append(
                Problem("bad-checkpoint", f"two checkpoints signed for size {cp.size} with different roots (a fork)")
            )
            continue
        cps[cp.size] = cp.root
    return cps


def choose_target(
    cps: dict[int, bytes], size: int | None, problems: list[Problem], quorum: int, cosigned: dict[int, dict[str, int]]
) -> int | None:
    """The size to verify: the newest checkpoint's, or the smallest at or above ``size``; with a
    ``quorum``, only among the checkpoints that many agencies' witnesses cosigned."""
    pool = [s for s in cps if not quorum or len(cosigned.get(s, ())) >= quorum]
    if size is not None:
        pool = [s for s in pool if s >= size]
    if pool:
        return max(pool) if size is None else min(pool)
    if size is not None and max(cps) < size:
        problems.insert(
            0,
            Problem(
                "truncated-tail",
                f"a log of at least {size} entries was asked for; the newest checkpoint vouches for {max(cps)}",
                index=max(cps),
            ),
        )
    else:
        most, at = max((len(cosigned.get(s, ())), s) for s in cps)
        problems.insert(
            0,
            Problem(
                "witnesses",
                f"{quorum} distinct agencies' cosignatures asked for on a checkpoint; "
                f"the most any has is {most} (size {at})",
            ),
        )
    return None


def first_mismatch(leaves: list[bytes], cps: dict[int, bytes], sizes: list[int]) -> int | None:
    """The first checkpoint size whose signed root the leaves do not meet (None: they meet all)."""
    tree, done = CompactRange(), 0
    for s in sizes:
        tree.extend(leaves[done:s])
        done = s
        if (tree.root() if s else EMPTY_ROOT) != cps[s]:
            return s
    return None


def _published_agree(log: LogData, tree: TreeLevels, target: int) -> bool:
    """Whether the published leaf hashes read are those of the first entries (the fast path's check)."""
    if log.published_first:
        return True
    n = 32 * min(target, len(log.published))
    return _published_bytes(log)[:n] == tree.levels[0][:n]


def _published_bytes(log: LogData) -> bytes:
    """``log.published`` as one byte string: from its tiles' own bytes when they hold just as many."""
    raw = log.published_raw
    if raw and sum(map(len, raw)) == 32 * len(log.published):
        return b"".join(raw)
    return b"".join(log.published)


def _published_mismatch(log: LogData, leaves: list[bytes]) -> int | None:
    """The first leaf whose published hash is not its entry's (None: all that were read agree)."""
    if log.published_first:  # the front is gone: positions are not indexes, the slow path says so
        return None
    pub = log.published[: len(leaves)]
    if leaves[: len(pub)] == pub:
        return None
    return next(i for i, h in enumerate(pub) if leaves[i] != h)


def _meets_upto(log: LogData, cps: dict[int, bytes], sizes: list[int]) -> int:
    """The largest checkpoint size up to which the published leaf hashes meet every signed root."""
    if log.published_first:
        return 0
    tree, good = CompactRange(), 0
    for s in sizes:
        if s > len(log.published):
            return good
        tree.extend(log.published[tree.size : s])
        if tree.root() != cps[s]:
            return good
        good = s
    return good


def _locate(log: LogData, leaves: list[bytes], cps: dict[int, bytes], sizes: list[int], target: int) -> Problem | None:
    """The slow path: the first leaf that is wrong, and how."""
    ref_upto = _meets_upto(log, cps, sizes)
    published = log.published
    where = {published[i]: i for i in range(ref_upto)}
    positions: dict[bytes, int] = {}
    for p, h in enumerate(leaves):
        positions.setdefault(h, p)
    e = 0
    n = len(leaves)
    for p in range(n):
        if e >= target:
            break
        h, claim = leaves[p], claimed_index(log.entries[p])
        j = where.get(h) if e < ref_upto else None
        if j == e or (e >= ref_upto and claim == e):
            e += 1
            continue
        if j is not None and j > e:
            later = positions.get(published[e])
            if later is not None and later > p:
                where_ = f"entry {e} is stored at position {later}, after entry {j} at position {p}"
                return Problem("reordered", where_, e)
            if p == 0:
                return Problem("truncated-front", _front(log, e, j), e)
            gone = f"entry {e} is" if j == e + 1 else f"entries {e}..{j - 1} are"
            return Problem("removed", f"{gone} missing: entry {j} follows entry {e - 1}", e)
        if j is not None:
            return Problem("inserted", f"a second copy of entry {j} at position {p}", e)
        if e >= ref_upto and claim is not None and claim != e:
            if claim > e:
                if p == 0:
                    return Problem("truncated-front", _front(log, e, claim), e)
                return Problem("removed", f"entry {claim} follows entry {e - 1}: entries {e}..{claim - 1} missing", e)
            return Problem("inserted", f"an entry claiming index {claim} at position {p}, where entry {e} belongs", e)
        nxt = leaves[p + 1] if p + 1 < n else None
        if e < ref_upto and nxt is not None and nxt == published[e]:
            return Problem("inserted", f"an entry that is not in the log sits at position {p}, before entry {e}", e)
        return Problem("altered", f"the stored bytes of entry {e} are not those the log signed", e)
    if e < target:
        if e == 0 and log.front:
            return Problem("truncated-front", log.front, 0)
        gone = f"entry {e} is" if e == target - 1 else f"entries {e}..{target - 1} are"
        return Problem("truncated-tail", f"{gone} missing: a signed checkpoint vouches for {target} entries", e)
    bad = first_mismatch(leaves[:target], cps, sizes)
    if bad is not None:
        before = max([s for s in sizes if s < bad], default=0)
        return Problem(
            "altered",
            f"entries {before}..{bad - 1} no longer meet the signed checkpoint at size {bad} "
            "(rewritten together with their published leaf hashes)",
            before,
        )
    return None


def _front(log: LogData, e: int, first: int) -> str:
    why = f" ({log.front})" if log.front else ""
    return f"the log starts at entry {first}: entries {e}..{first - 1} are gone{why}"


def cosigned_by(
    cosignatures: Sequence[bytes], cps: dict[int, bytes], origin: str, witnesses: Sequence[Verifier], problems: list
) -> dict[int, dict[str, int]]:
    """Per checkpoint size, the agencies whose witness cosigned that checkpoint (and when)."""
    from ._checkpoint import Checkpoint
    from ._note import parse_note

    out: dict[int, dict[str, int]] = {}
    for data in cosignatures:
        try:
            cp = Checkpoint.parse(parse_note(data).text)
        except NoteError:
            continue
        if cp.origin != origin or cps.get(cp.size) != cp.root:
            continue
        try:
            good = verify_cosignatures(data, cp.body(), list(witnesses))
        except NoteError as exc:
            problems.append(Problem("bad-cosignature", f"on the checkpoint at size {cp.size}: {exc}"))
            continue
        for name, t in good.items():
            out.setdefault(cp.size, {})[witness_of(name)] = t
    return out
