"""The chain check of a long trail on every core: one hash per record does not share.

Each record's hash depends on its own stored bytes only, so a trail cut into slices can be
hashed slice by slice at the same time: worker ``i`` checks the links inside its slice,
starting from the ``prev`` its first record carries, and returns the hash of its last record;
the caller then checks the joins (each slice's last hash is the next slice's first ``prev``,
the first ``prev`` is the anchor). Together that is exactly the sequential check.

Workers are forked, so they read the records already in memory without copying or
pickling them (hashlib does not release the GIL for records this small, so threads would not
help). Where fork is not available, or the trail is short (a fork costs milliseconds), the
check runs in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence

__all__ = ["PARALLEL_FROM", "parallel_chain_head"]

PARALLEL_FROM = 200_000  # records; below this one process is as fast as forking workers
_records: Sequence[bytes] = ()  # what the forked workers read (set just before they fork)


def _slice_head(bounds: tuple[int, int]) -> bytes | None:
    from ._verify import chain_head

    start, end = bounds
    return chain_head(_records[start:end], _records[start][9:73])


def parallel_chain_head(records: Sequence[bytes], head: bytes, workers: int | None = None) -> bytes | None:
    """`chain_head` over ``records`` on ``workers`` cores (default: all); same answer, sooner."""
    from ._verify import chain_head

    n = len(records)
    workers = workers or os.cpu_count() or 1
    if workers < 2 or n < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return chain_head(records, head)
    if records[0][9:73] != head:
        return None
    global _records
    step = -(-n // workers)
    bounds = [(i, min(i + step, n)) for i in range(0, n, step)]
    _records = records
    try:
        with multiprocessing.get_context("fork").Pool(len(bounds)) as pool:
            heads = pool.map(_slice_head, bounds, chunksize=1)
    finally:
        _records = ()
    for (start, _), (nxt, _), last in zip(bounds, bounds[1:] + [(n, n)], heads):
        if last is None or (nxt < n and records[nxt][9:73] != last):
            return None
    return heads[-1]
