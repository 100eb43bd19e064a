"""A long trail is checked on every core, with exactly the answer of the one-core check."""

from __future__ import annotations

import pytest

from samband.observability import GENESIS, synthetic_trail, verify_bytes
from samband.observability import _parallel
from samband.observability._parallel import parallel_chain_head
from samband.observability._verify import chain_head


@pytest.fixture(scope="module")
def trail():
    return synthetic_trail(3000, every=500)[0].records


@pytest.fixture
def parallel_from_small(monkeypatch):
    monkeypatch.setattr(_parallel, "PARALLEL_FROM", 100)


def test_the_chain_checked_on_three_workers_ends_at_the_same_head_as_on_one(trail, parallel_from_small):
    one = chain_head(trail, GENESIS.encode())
    assert one is not None and parallel_chain_head(trail, GENESIS.encode(), workers=3) == one


@pytest.mark.parametrize("where", [0, 999, 1000, 1001, 2998])  # first, at and around the joins of 3 slices, last but one
def test_an_altered_record_anywhere_breaks_the_parallel_check_and_verify_names_it(trail, parallel_from_small, where):
    records = list(trail)
    rec = records[where]
    records[where] = rec[:-3] + (b"X" if rec[-3:-2] != b"X" else b"Y") + rec[-2:]
    assert parallel_chain_head(records, GENESIS.encode(), workers=3) is None
    problem = verify_bytes(records).problem
    assert problem is not None and (problem.kind, problem.seq) == ("altered", where + 1)


def test_a_short_trail_is_checked_in_this_process(trail, monkeypatch):
    monkeypatch.setattr(_parallel.multiprocessing, "get_context", lambda *_: pytest.fail("forked for a short trail"))
    assert parallel_chain_head(trail, GENESIS.encode(), workers=4) == chain_head(trail, GENESIS.encode())
