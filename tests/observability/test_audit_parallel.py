"""A security chief's verify of a large log uses every core, and says exactly what one process would say.

The tree is built in runs (`_parallel.py`): small thresholds here make a 5,000-entry log split
into runs that start inside bundles, so each case below forks real children.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samband.observability.audit import TreeLevels, _parallel, leaf_hashes, log_from_messages, verify_log
from samband.observability.audit._parallel import tree_of_parts
from samband.testing import synthetic_log

from .test_audit_writer import draft, writer

LOG = synthetic_log(5000, batch=700, seed=9)


@pytest.fixture
def forks(monkeypatch) -> list[int]:
    """Small runs (so a small log is shared out) and the pids of every child forked. Threads that
    earlier tests of this process left idle are not counted as running; a thread a test starts is."""
    before = set(threading.enumerate())
    monkeypatch.setattr(_parallel, "_single_threaded", lambda: set(threading.enumerate()) <= before)
    monkeypatch.setattr(_parallel, "MIN_PARALLEL_LEAVES", 0)
    monkeypatch.setattr(_parallel, "ALIGN", 64)
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def serial(parts) -> TreeLevels:
    return TreeLevels(leaf_hashes([e for data, off in parts for e in data[off:].split(b"\n")]))


def test_a_log_built_on_two_and_three_processes_has_the_tree_one_process_builds(forks):
    data = LOG.data()
    want = serial(data.parts)
    for jobs in (2, 3):
        got = tree_of_parts(data.parts, data.part_counts, jobs)
        assert got.size == want.size == 5000
        assert got.levels == want.levels
        assert [got.root(s) for s in range(0, 5001, 97)] == [want.root(s) for s in range(0, 5001, 97)]
    assert len(forks) == 1 + 2


def test_a_verify_on_three_processes_passes_a_whole_log_with_the_same_verdict(forks):
    one = verify_log(LOG.data(), LOG.key.verifier, jobs=1)
    three = verify_log(LOG.data(), LOG.key.verifier, jobs=3)
    assert forks, "the tree was not shared out"
    assert one.ok and three.ok and str(three) == str(one)


def _with_bundle(messages, k: int, change) -> list:
    """The oversight's read of the log with the ``k``-th bundle's stored bytes changed."""
    out, seen = [], 0
    for seq, subject, body in messages:
        if subject == "audit.log":
            seen += 1
            if seen == k:
                body = change(body)
        if not subject.startswith("audit.view."):
            out.append((seq, subject, body))
    return out


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b + b"\n" + b.rsplit(b"\n", 1)[1], id="last entry stored twice"),
        pytest.param(lambda b: b.rsplit(b"\n", 1)[0], id="last entry cut"),
        pytest.param(lambda b: b.replace(b'"recipient":"', b'"recipient":"x', 1), id="an entry altered"),
    ],
)
def test_a_bundle_changed_behind_its_header_is_named_as_one_process_names_it(forks, change):
    msgs = _with_bundle(LOG.messages, 3, change)
    one = verify_log(log_from_messages(msgs), LOG.key.verifier, jobs=1)
    two = verify_log(log_from_messages(msgs), LOG.key.verifier, jobs=2)
    assert not one.ok
    assert str(two) == str(one)
    assert forks


def test_headers_that_miscount_their_bundles_make_the_tree_be_built_line_by_line(forks):
    data = LOG.data()
    counts = list(data.part_counts)
    counts[1] += 1  # the sum still right: only where the entries sit is wrong
    counts[2] -= 1
    got = tree_of_parts(data.parts, counts, 2)
    assert got.levels == serial(data.parts).levels


def test_a_child_that_dies_costs_only_time(forks, monkeypatch):
    monkeypatch.setattr(_parallel, "_child", lambda pieces, fd: os._exit(3))
    data = LOG.data()
    assert tree_of_parts(data.parts, data.part_counts, 3).levels == serial(data.parts).levels
    assert len(forks) == 2


def test_a_child_that_hangs_is_killed_and_its_run_built_here(forks, monkeypatch):
    monkeypatch.setattr(_parallel, "CHILD_GRACE", 0.3)
    monkeypatch.setattr(_parallel, "_child", lambda pieces, fd: (time.sleep(600), os._exit(0)))
    data = LOG.data()
    t = time.monotonic()
    assert tree_of_parts(data.parts, data.part_counts, 2).levels == serial(data.parts).levels
    assert time.monotonic() - t < 30
    with pytest.raises(ChildProcessError):  # killed and collected: no such child any more
        os.waitpid(forks[0], os.WNOHANG)


def test_with_another_thread_running_the_tree_is_built_in_this_process_alone(forks):
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        data = LOG.data()
        assert tree_of_parts(data.parts, data.part_counts, 4).levels == serial(data.parts).levels
    finally:
        stop.set()
        other.join()
    assert forks == []


@settings(max_examples=25, deadline=None)
@given(
    bundles=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12),
    align=st.sampled_from([2, 4, 8, 16]),
    jobs=st.integers(min_value=2, max_value=4),
)
def test_any_bundles_on_any_number_of_processes_make_the_serial_tree(bundles, align, jobs):
    parts = []
    k = 0
    for n in bundles:
        entries = [f'{{"index":{k + i},"pad":"{"x" * ((k + i) % 7)}"}}'.encode() for i in range(n)]
        k += n
        parts.append((b'{"header":1}\n' + b"\n".join(entries), len(b'{"header":1}\n')))
    old = (_parallel.MIN_PARALLEL_LEAVES, _parallel.ALIGN, _parallel._single_threaded, os.fork)
    forked: list[int] = []

    def fork() -> int:
        pid = old[3]()
        forked.append(pid)
        return pid

    before = set(threading.enumerate())  # threads earlier tests left idle (hypothesis runs no fixture per example)
    _parallel.MIN_PARALLEL_LEAVES, _parallel.ALIGN = 0, align
    _parallel._single_threaded = lambda: set(threading.enumerate()) <= before
    os.fork = fork
    try:
        got = tree_of_parts(parts, bundles, jobs)
    finally:
        _parallel.MIN_PARALLEL_LEAVES, _parallel.ALIGN, _parallel._single_threaded, os.fork = old
    assert forked or sum(bundles) <= align  # shared out unless the whole log is one run
    want = serial(parts)
    assert got.size == want.size == sum(bundles)
    assert got.levels == want.levels


async def test_the_oversights_verify_command_shares_the_tree_out_in_its_own_process(fresh_deployment):
    """`samband audit verify` as its own process (its entry point, its event loop, its connection to a
    real broker): it runs one thread when it verifies, so it forks; the thresholds are lowered so a
    small log counts as large."""
    dep = fresh_deployment
    await dep.provision()
    ap, nc = await writer(dep)
    try:
        await ap.start()
        for b in range(4):
            await ap.append([draft(100 * b + i) for i in range(30)])
    finally:
        await ap.close()
        await nc.close()
    script = textwrap.dedent(
        f"""
        import atexit, os, sys
        from samband.observability.audit import _parallel
        _parallel.MIN_PARALLEL_LEAVES, _parallel.ALIGN = 0, 8
        real, forked = os.fork, []
        def fork():
            pid = real()
            if pid:
                forked.append(pid)
            return pid
        os.fork = fork
        atexit.register(lambda: sys.stderr.write(f"forked {{len(forked)}}\\n"))
        from samband.cli import cli
        cli(["--state-dir", {str(dep.state_dir)!r}, "audit", "verify", "--jobs", "3"])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("OK: 120 entries, tree size 120, root ")
    assert "forked 2" in proc.stderr
