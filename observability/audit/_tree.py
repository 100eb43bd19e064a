"""The RFC 9162 Merkle tree over the audit log's entries: leaf and node hashes, roots, compact ranges.

leaf hash = SHA-256(0x00 || entry bytes), node hash = SHA-256(0x01 || left || right)
(RFC 9162 §2.1.1); the root of ``n`` leaves splits them at the largest power of two below
``n``. A `CompactRange` is a tree's right frontier: the roots of the perfect subtrees its
leaves decompose into, largest first (popcount(n) hashes); it is all the writer keeps to
extend the tree and sign its next root, and all a witness keeps between two checkpoints.
`TreeLevels` keeps every level of a tree, so any subtree hash (hence any proof) is a lookup.

Why the hashing is written in loops of list comprehensions: each node costs one OpenSSL
SHA-256 of 65 bytes (~0.3 µs here); a Python call per node would cost as much again, and
`samband bench audit` holds verification to half the speed of a bare hashing loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "TreeLevels",
    "leaf_hash",
    "leaf_hashes",
    "line_leaf_hashes",
    "line_leaves",
    "node_hash",
    "root_of",
    "split",
]

_sha = hashlib.sha256
EMPTY_ROOT = _sha(b"").digest()  # the root of the empty tree (RFC 9162 §2.1.1)
_LEAF = _sha(b"\x00").copy  # a hash already fed the leaf prefix: copying it is cheaper than a new one


def leaf_hash(entry: bytes) -> bytes:
    h = _LEAF()
    h.update(entry)
    return h.digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    """The leaf hash of each entry, in order."""
    out: list[bytes] = []
    append, new = out.append, _LEAF
    for e in entries:
        h = new()
        h.update(e)
        append(h.digest())
    return out


def line_leaf_hashes(data: bytes, start: int, limit: int = -1) -> list[bytes]:
    """The leaf hash of each newline-separated entry of ``data`` from offset ``start`` on (the first
    ``limit`` of them, if given), hashed in place: no entry is copied out (as a split would: one
    allocation and copy per entry, which cost more than hashing it in `samband bench audit`)."""
    return line_leaves(data, start, limit)[0]


def line_leaves(data: bytes, start: int, limit: int = -1) -> tuple[list[bytes], int]:
    """`line_leaf_hashes`, and the offset after the last entry hashed (``len(data) + 1`` at the end)."""
    mv, find, new = memoryview(data), data.find, _LEAF
    out: list[bytes] = []
    append = out.append
    pos = start
    while limit:
        limit -= 1
        end = find(b"\n", pos)
        h = new()
        if end < 0:
            h.update(mv[pos:])
            append(h.digest())
            return out, len(data) + 1
        h.update(mv[pos:end])
        append(h.digest())
        pos = end + 1
    return out, pos


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 9162 splits ``n`` leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _perfect(level: list[bytes]) -> bytes:
    """The root of a perfect subtree (a power-of-two number of leaf hashes), level by level."""
    sha = _sha
    while len(level) > 1:
        it = iter(level)
        level = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it)]
    return level[0]


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree whose leaf hashes are ``leaves`` (the RFC 9162 Merkle tree hash)."""
    cr = CompactRange()
    cr.extend(leaves)
    return cr.root()


class CompactRange:
    """The roots of the perfect subtrees of a tree of ``size`` leaves, largest first."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"Expected {size.bit_count()} hashes for a tree of {size} leaves, got {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.hashes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompactRange) and (self.size, self.hashes) == (other.size, other.hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self.size})"

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append ``leaves`` (leaf hashes): in aligned power-of-two blocks, each hashed level by level."""
        i, n = 0, len(leaves)
        while i < n:
            block = 1 << ((n - i).bit_length() - 1)
            if self.size:
                block = min(block, self.size & -self.size)  # stay aligned: a block starts at a multiple of itself
            node = leaves[i] if block == 1 else _perfect(list(leaves[i : i + block]))
            self._push(node, block)
            i += block

    def _push(self, node: bytes, block: int) -> None:
        size, hashes, k = self.size, self.hashes, block
        while size & k:  # the last subtree has this block's size: the two become one, as a carry
            node = node_hash(hashes.pop(), node)
            k <<= 1
        hashes.append(node)
        self.size = size + block

    def root(self) -> bytes:
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        root = hashes[-1]
        for h in reversed(hashes[:-1]):
            root = node_hash(h, root)
        return root


class TreeLevels:
    """Every level of a tree, each as one bytes object of 32-byte hashes: level 0 is the leaves.

    ``subtree(lo, hi)`` is the root of leaves ``lo..hi-1``: a lookup for an aligned perfect
    subtree, a fold over the decomposition otherwise (only at the tree's right edge).
    """

    __slots__ = ("levels", "size")

    def __init__(self, leaves: Sequence[bytes], height: int | None = None) -> None:
        """The levels over ``leaves``: all of them, or those up to ``height`` (see `from_levels`)."""
        self.size = len(leaves)
        level = list(leaves)
        self.levels = [b"".join(level)]
        sha = _sha
        while len(level) > 1 and (height is None or len(self.levels) <= height):
            it = iter(level)
            level = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it)]  # an odd last one is left out
            self.levels.append(b"".join(level))

    @classmethod
    def from_levels(cls, size: int, levels: list[bytes]) -> TreeLevels:
        """The tree over ``size`` leaves whose lowest levels are given (as built in runs,
        `_parallel.py`): the ones above are built here."""
        tree = cls.__new__(cls)
        tree.size, tree.levels = size, list(levels)
        while len(tree.levels[-1]) > 32:
            top = tree.levels[-1]
            tree.levels.append(b"".join(_sha(b"\x01" + top[i : i + 64]).digest() for i in range(0, len(top) - 63, 64)))
        return tree

    def leaves(self) -> list[bytes]:
        """Every leaf hash, in order."""
        level = self.levels[0]
        return [level[i : i + 32] for i in range(0, len(level), 32)]

    def leaf(self, index: int) -> bytes:
        return self.levels[0][32 * index : 32 * index + 32]

    def subtree(self, lo: int, hi: int) -> bytes:
        if not 0 <= lo < hi <= self.size:
            raise ValueError(f"Expected a range within 0..{self.size}, got {lo}..{hi}")
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            h = n.bit_length() - 1
            i = lo >> h
            return self.levels[h][32 * i : 32 * i + 32]
        k = split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def compact_range(self, size: int) -> CompactRange:
        """The frontier of the first ``size`` leaves."""
        hashes, lo = [], 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                hashes.append(self.subtree(lo, lo + (1 << bit)))
                lo += 1 << bit
        return CompactRange(size, hashes)
