"""The tree over many bundles, built on every core: forked children hash aligned runs of the leaves.

Verifying a log hashes every entry once (its leaf hash) and about once more (the tree's nodes).
Both are independent across runs of leaves that start at a multiple of `ALIGN`: every node at
or below that height lies wholly inside one run. So `tree_of_parts` cuts the log into ``jobs``
such runs, forks a child for each but the first, builds the first run's levels itself meanwhile,
reads each child's levels (one byte string a level, 32 bytes a node) from a pipe, puts each
level together in order and builds the few levels above `ALIGN` here. A child sees the bundles
already in memory (fork shares them, copy on write): nothing is copied to it.

Where a run starts inside a bundle comes from the bundles' headers (``counts``); each run checks
that every bundle it ends holds exactly as many entries as its header says. One that does not
(a header or a bundle changed) makes the whole tree be built again here, one entry a line, as if
no header had been read: the verifier then names what is wrong from the entries themselves.

Why fork and only then: a child of a process with other threads could inherit a lock one of them
held (OpenSSL's, the allocator's) and wait on it for ever, so the work is shared out only while
this process runs one thread, on a platform with ``os.fork``; otherwise, and for logs too small
to gain from a child, everything is built here. A child that fails (its exit status, the shape
of its answer, or no answer by a deadline) costs only time: its run is built again here.
``SAMBAND_VERIFY_JOBS`` sets the number of processes (1: never fork); by default one per core.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Sequence

from ._tree import TreeLevels, line_leaf_hashes, line_leaves

__all__ = ["ALIGN", "MIN_PARALLEL_LEAVES", "tree_of_parts", "verify_jobs"]

ALIGN = 4096  # runs start at multiples of this: the levels up to its height need no other run
MIN_PARALLEL_LEAVES = 20_000  # below this a fork (milliseconds for a large process) costs more than it saves
CHILD_GRACE = 5.0  # seconds a child may take beyond ten times the parent's share before it is killed

Part = tuple[bytes, int]  # (a bundle as stored, the offset of its first entry)
Piece = tuple[bytes, int, int, bool]  # (a bundle, the offset of the first entry wanted, how many, to its end?)


class _Miscounted(Exception):
    """A bundle holds another number of entries than its header says."""


def verify_jobs() -> int:
    """How many processes build the tree by default: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def tree_of_parts(parts: Sequence[Part], counts: Sequence[int] | None = None, jobs: int | None = None) -> TreeLevels:
    """Every level of the tree over the entries of ``parts``, in order (see the module's docstring);
    ``counts`` are the entries each bundle's header says it holds (without them, one process)."""
    jobs = verify_jobs() if jobs is None else jobs
    total = sum(counts) if counts is not None and len(counts) == len(parts) else 0
    if jobs < 2 or counts is None or total < MIN_PARALLEL_LEAVES or not hasattr(os, "fork") or not _single_threaded():
        return _serial(parts)
    bounds = sorted({0, total} | {min(total, round(total * i / jobs / ALIGN) * ALIGN) for i in range(1, jobs)})
    runs = [_pieces(parts, counts, lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]
    # The collector's passes write to every tracked object's header: after a fork each such write
    # copies a page, in the parent and in the child (measured here: a forked half then took up to
    # 3.5x a serial half). Frozen, those objects are left alone.
    gc.freeze()
    try:
        per_run = _forked(runs)
    except _Miscounted:
        return _serial(parts)
    finally:
        gc.unfreeze()
    height = ALIGN.bit_length() - 1
    levels = [b"".join(run[j] if j < len(run) else b"" for run in per_run) for j in range(height + 1)]
    while len(levels) > 1 and not levels[-1]:  # a small tree is not as tall as a run may be
        levels.pop()
    return TreeLevels.from_levels(total, levels)


def _single_threaded() -> bool:
    return threading.active_count() == 1


def _serial(parts: Sequence[Part]) -> TreeLevels:
    """The tree over every line of every bundle, in this process, no header read."""
    return TreeLevels([h for data, off in parts for h in line_leaf_hashes(data, off)])


def _pieces(parts: Sequence[Part], counts: Sequence[int], lo: int, hi: int) -> list[Piece]:
    """The bundles' entries ``lo..hi-1`` as (bundle, offset, how many, to the bundle's end) pieces."""
    out: list[Piece] = []
    first = 0
    for (data, off), n in zip(parts, counts, strict=True):
        if first + n > lo and first < hi:
            skip, take = max(0, lo - first), min(n, hi - first) - max(0, lo - first)
            for _ in range(skip):
                nl = data.find(b"\n", off)
                off = len(data) + 1 if nl < 0 else nl + 1
            out.append((data, off, take, first + n <= hi))
        first += n
        if first >= hi:
            break
    return out


def _levels(pieces: Sequence[Piece]) -> list[bytes]:
    """The levels of one run, up to `ALIGN`'s height, each one byte string."""
    leaves: list[bytes] = []
    for data, off, take, to_end in pieces:
        if off > len(data):
            raise _Miscounted
        got, after = line_leaves(data, off, take)
        if len(got) != take or (to_end and after <= len(data)):
            raise _Miscounted
        leaves.extend(got)
    return TreeLevels(leaves, height=ALIGN.bit_length() - 1).levels


def _child(pieces: Sequence[Piece], fd: int) -> None:
    """In the forked child: build, write the levels to ``fd``, leave without running any exit hook."""
    status = 1
    try:
        gc.disable()
        with contextlib.suppress(ValueError):  # a signal here must not wake the parent's event loop
            signal.set_wakeup_fd(-1)
        levels = _levels(pieces)
        data = b"".join([struct.pack("<I", len(levels)), *(struct.pack("<Q", len(x)) for x in levels), *levels])
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)  # the parent reads to the end now, not once this large process has been torn down
        status = 0
    finally:
        os._exit(status)


def _read_all(fd: int, deadline: float) -> bytes | None:
    """All a child writes to ``fd``; None if it is not done by ``deadline`` (monotonic)."""
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _unpack(data: bytes | None) -> list[bytes] | None:
    """A child's levels, or None if what it wrote is not whole."""
    if not data or len(data) < 4:
        return None
    (k,) = struct.unpack_from("<I", data)
    head = 4 + 8 * k
    if len(data) < head:
        return None
    sizes = struct.unpack_from(f"<{k}Q", data, 4)
    if head + sum(sizes) != len(data) or any(s % 32 for s in sizes):
        return None
    out, pos = [], head
    for s in sizes:
        out.append(data[pos : pos + s])
        pos += s
    return out


def _forked(runs: list[list[Piece]]) -> list[list[bytes]]:
    """Each run's levels: the first built here, the others in forked children."""
    children: list[tuple[int, int]] = []
    for run in runs[1:]:
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            children.append((-1, -1))
            continue
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            os.close(r)
            _child(run, w)
        os.close(w)
        children.append((pid, r))
    t = time.monotonic()
    out: list[list[bytes]] = []
    miscounted = False
    try:
        out.append(_levels(runs[0]))
    except _Miscounted:
        miscounted = True
    # a child builds as much as this process just did: one that takes far longer is stuck, not slow
    deadline = time.monotonic() + CHILD_GRACE + 10 * (time.monotonic() - t)
    for (pid, r), run in zip(children, runs[1:], strict=True):
        got: list[bytes] | None = None
        if pid > 0:
            try:
                data = _read_all(r, deadline)
            finally:
                os.close(r)
            if data is None:
                os.kill(pid, signal.SIGKILL)
            got = _unpack(data)
            _reap(pid, wait=data is None)
        if got is None and not miscounted:  # a child that failed: its run built here
            try:
                got = _levels(run)
            except _Miscounted:  # as the child found
                miscounted = True
        out.append(got or [])
    if miscounted:
        raise _Miscounted
    return out


_exiting: list[int] = []  # children that had answered but not yet exited (a large process takes a while)


def _reap(pid: int, *, wait: bool) -> None:
    """Collect ``pid`` once it has exited, and any child left from before, without waiting for one
    that answered: its answer was checked whole (`_unpack`), its exit status adds nothing."""
    for p in [*_exiting, pid]:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(p, 0 if wait and p == pid else os.WNOHANG)
            if done == 0:
                if p not in _exiting:
                    _exiting.append(p)
                continue
        if p in _exiting:
            _exiting.remove(p)
