"""Whatever single change is made to a trail, verify names its kind and its first bad sequence."""

from __future__ import annotations

import hashlib

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from samband.observability.audit import AUDIT_DECODER, AuditChain, verify_bytes
from samband.testing import synthetic_trail

TRAIL = synthetic_trail(40, every=1000, seed=7)[0]


def forged_after(records: list[bytes], k: int) -> bytes:
    """A plausible record claiming seq k, chained to seq k-1 (index k-2)."""
    chain = AuditChain(k - 1, hashlib.sha256(records[k - 2]).hexdigest())
    return chain.seal(msgspec.structs.replace(AUDIT_DECODER.decode(records[k - 1]), envelope_id="forged"))


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["altered", "removed", "reordered", "inserted"]),
    k=st.integers(min_value=2, max_value=38),
    offset=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=6),
    move=st.integers(min_value=-8, max_value=8).filter(lambda m: m != 0),
)
def test_any_single_alteration_removal_reordering_or_insertion_is_named_at_its_sequence(kind, k, offset, bit, move):
    records = list(TRAIL.records)  # records[k - 1] holds seq k
    if kind == "altered":
        data = bytearray(records[k - 1])
        data[offset % len(data)] ^= 1 << bit
        records[k - 1] = bytes(data)
    elif kind == "removed":
        del records[k - 1]
    elif kind == "reordered":
        target = max(0, min(len(records) - 1, k - 1 + move))
        if target == k - 1:
            target = k if k < len(records) else k - 2
        rec = records.pop(k - 1)
        records.insert(target, rec)
        k = min(k, target + 1)  # the first position out of order
    else:
        records.insert(k - 1, forged_after(records, k))
    result = verify_bytes(records)
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (kind, k), str(result)
