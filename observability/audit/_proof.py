"""Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4): made from subtree hashes, checked alone.

A proof is made with any ``subtree(lo, hi)`` function giving the root of leaves ``lo..hi-1``
(`TreeLevels.subtree` over all leaf hashes, or a witness's compact range plus the new leaves);
it is checked with nothing but the leaf hash, the sizes and the signed roots. The checks are
the RFC's algorithms step by step, and they agree with the transparency-dev vectors
(tests/observability/test_audit_tree.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._tree import node_hash, split

__all__ = ["Subtree", "consistency_proof", "inclusion_proof", "verify_consistency", "verify_inclusion"]

Subtree = Callable[[int, int], bytes]


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]): the sibling subtrees from the leaf up to the root."""
    if not 0 <= index < size:
        raise ValueError(f"Expected a leaf index below the tree size {size}, got {index}")
    path, lo, hi = [], 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    return path[::-1]


def consistency_proof(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old, D[0:new]): what shows the tree of ``old`` leaves is a prefix of the tree of ``new``."""
    if not 0 <= old <= new:
        raise ValueError(f"Expected 0 <= old size <= new size, got {old} and {new}")
    if old in (0, new):
        return []
    path, lo, hi, m, whole = [], 0, new, old, True
    while hi - lo != m:
        k = split(hi - lo)
        if m <= k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        path.append(subtree(lo, hi))
    return path[::-1]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` lead from ``leaf`` at ``index`` to ``root`` of a tree of ``size``?"""
    if not 0 <= index < size or len(leaf) != 32:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``old`` leaves with ``old_root`` a prefix of the one with ``new_root``?"""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0
