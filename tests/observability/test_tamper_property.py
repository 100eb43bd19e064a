"""Whatever single change is made to the log's entries, verify names its kind and its leaf index."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from samband.observability.audit import ENTRY_DECODER, LogData, encode_entry, verify_log
from samband.testing import synthetic_log

LOG = synthetic_log(40, batch=8, seed=7)
DATA = LOG.data()


def forged(entries: list[bytes], k: int) -> bytes:
    """A plausible decision claiming index k."""
    return encode_entry(msgspec.structs.replace(ENTRY_DECODER.decode(entries[k]), envelope_id="forged"), k)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["altered", "removed", "reordered", "inserted"]),
    k=st.integers(min_value=1, max_value=38),
    offset=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
    move=st.integers(min_value=-8, max_value=8).filter(lambda m: m != 0),
)
def test_any_single_alteration_removal_reordering_or_insertion_is_named_at_its_index(kind, k, offset, bit, move):
    entries = list(DATA.entries)  # entries[k] is leaf k
    if kind == "altered":
        data = bytearray(entries[k])
        data[offset % len(data)] ^= 1 << bit
        entries[k] = bytes(data)
    elif kind == "removed":
        del entries[k]
    elif kind == "reordered":
        target = max(0, min(len(entries) - 1, k + move))
        if target == k:
            target = k + 1 if k + 1 < len(entries) else k - 1
        entries.insert(target, entries.pop(k))
        k = min(k, target)  # the first index out of its place
    else:
        entries.insert(k, forged(entries, k))
    log = LogData(entries, DATA.published, 0, DATA.checkpoints)
    result = verify_log(log, LOG.key.verifier)
    assert result.problem is not None
    assert (result.problem.kind, result.problem.index) == (kind, k), str(result)
