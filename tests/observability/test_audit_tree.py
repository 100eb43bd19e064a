"""The audit log's Merkle tree is RFC 9162's: roots, inclusion and consistency proofs match the
published vectors, and every proof the log makes is accepted by the RFC's own checks.

The vectors are copied from transparency-dev/merkle, proof/verify_test.go (Apache-2.0,
https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go): the eight leaves,
the roots of the trees of 1..8 of them, five inclusion proofs and five consistency proofs, and
the ways that file corrupts a good proof, each of which must be refused.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samband.observability.audit import (
    EMPTY_ROOT,
    CompactRange,
    TreeLevels,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def dh(h: str) -> bytes:
    return bytes.fromhex(h)


LEAVES = [
    dh(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = [
    dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    dh("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    dh("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    dh("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    dh("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    dh("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf number, counted from 1 as in the source, tree size, proof)
INCLUSION = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = dh("abacaba000000000000000000000000000000000000000000060061e00123456")
HASHES = [leaf_hash(x) for x in LEAVES]
LEVELS = TreeLevels(HASHES)


def test_the_root_of_every_prefix_of_the_eight_leaves_is_the_published_one():
    assert [root_of(HASHES[:n]) for n in range(1, 9)] == ROOTS
    assert [LEVELS.root(n) for n in range(1, 9)] == ROOTS
    assert root_of([]) == EMPTY_ROOT == dh("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_are_the_published_ones_and_verify(leaf, size, proof):
    levels = TreeLevels(HASHES[:size])
    expected = [dh(p) for p in proof]
    assert inclusion_proof(leaf - 1, size, levels.subtree) == expected
    assert verify_inclusion(leaf - 1, size, HASHES[leaf - 1], expected, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_are_the_published_ones_and_verify(old, new, proof):
    levels = TreeLevels(HASHES[:new])
    expected = [dh(p) for p in proof]
    assert consistency_proof(old, new, levels.subtree) == expected
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], expected)


def inclusion_corruptions(index, size, proof, root, leaf):
    """transparency-dev's corruptInclusionProof: every probe must be refused."""
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((index, size, root, leaf, wrong))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    return probes


def consistency_corruptions(old, new, r1, r2, proof):
    """transparency-dev's corruptConsistencyProof."""
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((old, new, r1, r2, wrong))
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_every_corruption_of_a_good_inclusion_proof_is_refused(leaf, size, proof):
    good = [dh(p) for p in proof]
    for probe in inclusion_corruptions(leaf - 1, size, good, ROOTS[size - 1], HASHES[leaf - 1]):
        assert not verify_inclusion(*probe[:2], probe[3], probe[4], probe[2]), probe


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_every_corruption_of_a_good_consistency_proof_is_refused(old, new, proof):
    good = [dh(p) for p in proof]
    for probe in consistency_corruptions(old, new, ROOTS[old - 1], ROOTS[new - 1], good):
        assert not verify_consistency(*probe), probe


def test_the_edge_cases_of_the_source_are_decided_as_there():
    r1, r2 = b"don't care 1", b"don't care 2"
    cases = [
        (0, 0, r1, r2, [], False),
        (1, 1, r1, r2, [], False),
        (0, 0, r1, r1, [], True),
        (0, 1, r1, r2, [], True),
        (1, 1, r2, r2, [], True),
        (1, 0, r1, r2, [], False),
        (2, 1, r1, r2, [], False),
        (1, 2, r1, r2, [], False),
        (0, 0, EMPTY_ROOT, r2, [], False),
        (1, 1, EMPTY_ROOT, r2, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ]
    for old, new, a, b, proof, ok in cases:
        assert verify_consistency(old, new, a, b, proof) is ok, (old, new)
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify_inclusion(index, size, SOME_HASH, [], b"")
        assert not verify_inclusion(index, size, b"", [], EMPTY_ROOT)
        assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    one = leaf_hash(b"data")  # a one-leaf tree: its root is its leaf, the proof empty
    assert verify_inclusion(0, 1, one, [], one)
    assert not verify_inclusion(0, 1, b"", [], one) and not verify_inclusion(0, 1, one, [], b"")
    assert not verify_inclusion(0, 1, b"", [], b"")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), data=st.data())
def test_any_proof_the_log_makes_verifies_and_a_compact_range_meets_the_root(n, data):
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    levels = TreeLevels(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    old = data.draw(st.integers(min_value=1, max_value=n))
    assert verify_inclusion(index, n, leaves[index], inclusion_proof(index, n, levels.subtree), levels.root())
    assert verify_consistency(old, n, levels.root(old), levels.root(), consistency_proof(old, n, levels.subtree))
    # grown in uneven steps, a compact range meets the root of every prefix, as the levels do
    cr, i = CompactRange(), 0
    while i < n:
        step = data.draw(st.integers(min_value=1, max_value=n - i))
        cr.extend(leaves[i : i + step])
        i += step
        assert cr.root() == levels.root(i) and cr == levels.compact_range(i)
