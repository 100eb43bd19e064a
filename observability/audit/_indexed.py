"""`samband audit query` over the broker: bring the identity's index up to the newest checkpoint, look up.

Catching up reads only what was appended after the checkpoint last indexed, in chunks that end
at checkpoints, and builds on the index only what holds together under the pinned key: each
batch's entries hash to its leaf hashes, which extend the indexed frontier to the root its
checkpoint signs (the oversight); or each leaf-hash tile extends the frontier to the next
checkpoint's signed root and each entry of the agency's view is the leaf at its index (an
agency). Whatever does not extend the log is skipped as the writer skips it (foreign); and if
the log read does not reach its newest checkpoint, or that checkpoint contradicts what was
indexed (a smaller tree, another root for the same size), the query gives no answer
(`TrailProblem`) rather than one that could be incomplete.

The hits are shown from the index's copy of their exact bytes, each hashed again against its
indexed leaf hash; ``from_stream`` fetches each hit's bundle from the stream instead (the
oversight only: an agency may not get messages by sequence).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator

import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from samband.schemas.layout import (
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_LOG_SUBJECT,
    AUDIT_STREAM,
    AUDIT_TREE_SUBJECT,
    audit_consumer_names,
    identity_agency,
    view_subject,
)

from ..bus import ReadError, direct_get, read_range
from ._bundle import decode_bundle, decode_tree, decode_view
from ._checkpoint import open_checkpoint
from ._errors import AuditUnavailable, BundleError, NoteError, reading
from ._note import Verifier
from ._resume import consistent
from ._store import IndexMoved, IndexStore, TrailProblem
from ._stream import scan
from ._tree import leaf_hash, leaf_hashes
from ._verify import claimed_index

__all__ = ["CHUNK", "catch_up", "indexed_query"]

CHUNK = 250_000  # entries read and indexed per transaction (a cut-short build resumes from the last)


def _scope(identity: str) -> tuple[str | None, tuple[str, ...]]:
    agency = identity_agency(identity) if identity.startswith("auditor-") else None
    return agency, audit_consumer_names(identity) if agency else ()


async def catch_up(
    nc: nats.NATS, store: IndexStore, verifier: Verifier, identity: str, progress: Callable | None = None
) -> int:
    """Index what was appended since the index's last checkpoint; how many entries were added."""
    with reading(), _no_gc():
        return await _catch_up(nc, store, verifier, identity, progress)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector off while a build allocates a row tuple per entry: it found no cycles to
    free there and cost ~10% of reading a million entries into the index (`samband bench audit`)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


async def _catch_up(nc, store: IndexStore, verifier: Verifier, identity: str, progress) -> int:
    newest = await direct_get(nc, AUDIT_STREAM, last_by_subj=AUDIT_CHECKPOINT_SUBJECT)
    if newest is None:
        return 0
    where = f"stream seq {newest.seq}"
    try:
        cp, _ = open_checkpoint(newest.data, verifier)
    except NoteError as exc:
        raise TrailProblem("bad-checkpoint", where, f"the newest checkpoint: {exc}") from exc
    if cp.size < store.size or (cp.size == store.size and cp.root != store.root):
        raise TrailProblem(
            "truncated-tail" if cp.size < store.size else "altered",
            where,
            f"the newest checkpoint vouches for {cp.size} entries (root {cp.root_b64()}); "
            f"{store.size} were indexed with root {store.root.hex() if store.root else '-'}",
        )
    agency, names = _scope(identity)
    if agency is None:  # the oversight may see the stream's state: a log cut at the front is named
        try:
            first = (await nc.jetstream().stream_info(AUDIT_STREAM)).state.first_seq
        except (TimeoutError, JsError, NatsError) as exc:
            raise AuditUnavailable(f"Expected to read stream {AUDIT_STREAM}, got {exc!r}") from exc
        if first > 1:
            raise TrailProblem(
                "truncated-front", "stream seq 1", f"the {AUDIT_STREAM} stream starts at seq {first}: "
                f"seq 1..{first - 1} are gone"
            )  # fmt: skip
    if cp.size == store.size:
        return 0
    main = [AUDIT_LOG_SUBJECT, AUDIT_TREE_SUBJECT, AUDIT_CHECKPOINT_SUBJECT]
    subjects = [view_subject(agency), AUDIT_TREE_SUBJECT, AUDIT_CHECKPOINT_SUBJECT] if agency else main
    # Read in ranges of stream sequences of about CHUNK entries, each indexed up to the last checkpoint
    # it holds (the rest waits for the next range). Where the checkpoints are is not read first: a
    # filtered read of the checkpoints alone made the broker go through the whole stream once more
    # (2.5 s of a cold build of a million entries here, `samband bench audit`). The next range is
    # read while this one is checked and indexed in a thread: the broker reads its store meanwhile.
    ranges = _ranges(store.stream_seq + 1, newest.seq, cp.size - store.size)
    added, after = 0, store.stream_seq
    carried: list = []  # the messages after a range's last checkpoint
    pending = asyncio.ensure_future(_read(nc, *ranges[0], subjects, names))
    try:
        for k, (_, hi) in enumerate(ranges):
            msgs = carried + await pending
            last = k + 1 == len(ranges)
            if not last:
                pending = asyncio.ensure_future(_read(nc, *ranges[k + 1], subjects, names))
            cut = len(msgs) if last else _after_last_checkpoint(msgs)
            part, carried = msgs[:cut], msgs[cut:]
            if not part:
                continue
            stop = hi if last else part[-1][0]
            try:
                if agency is None:
                    added += await asyncio.to_thread(_add_log, store, verifier, part, after, stop)
                else:
                    added += await asyncio.to_thread(_add_view, store, verifier, part)
            except IndexMoved:  # another query indexed meanwhile: go on from where it got
                store.reload()
                return added + await _catch_up(nc, store, verifier, identity, progress)
            after = stop
            if progress and cp.size - added > CHUNK:  # only a long build says how far it got
                progress(store.size, cp.size)
    finally:
        if not pending.done():
            pending.cancel()
    if store.size != cp.size:
        raise TrailProblem(
            "altered",
            f"entry {store.size}",
            f"the log read holds together up to entry {store.size}, not up to its newest checkpoint "
            f"({cp.size} entries): `samband audit verify` names what is wrong",
        )
    return added


async def _read(nc, start: int, last: int, subjects: list[str], names: tuple[str, ...]) -> list:
    """Messages on ``subjects`` in stream order. A scoped identity may only filter one subject per
    consumer (its permissions name the filter), so it reads each apart and the reads are merged."""
    try:
        if not names or len(subjects) == 1:
            return await read_range(nc, AUDIT_STREAM, start, last, with_seqs=True, subjects=subjects, names=names)
        parts = [
            await read_range(nc, AUDIT_STREAM, start, last, with_seqs=True, subjects=[s], names=names) for s in subjects
        ]
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc
    return sorted((m for part in parts for m in part), key=lambda m: m[0])


def _ranges(first: int, last: int, entries: int) -> list[tuple[int, int]]:
    """Stream sequences ``first..last`` in ranges of about `CHUNK` of their ``entries``; the first
    three an eighth, a quarter and a half of that: nothing is indexed until the first range is
    read, the later ones are read while the one before is indexed."""
    whole = (last - first + 1) * CHUNK / max(entries, 1)  # sequences a range of CHUNK entries spans
    out, lo, shift = [], first, 3
    while lo <= last:
        step = max(1, int(whole) >> shift)
        out.append((lo, min(lo + step - 1, last)))
        lo, shift = lo + step, max(0, shift - 1)
    return out


def _after_last_checkpoint(msgs: list) -> int:
    """The position after the last checkpoint in ``msgs``; 0 if none. An append is a chain ending
    with its checkpoint that nothing lands inside (`_batch.chain`): a checkpoint (the writer's or a
    foreign one, which `scan` names) is always between appends."""
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i][1] == AUDIT_CHECKPOINT_SUBJECT:
            return i + 1
    return 0


def _add_log(store: IndexStore, verifier: Verifier, msgs: list, after: int, stop: int) -> int:
    batches, _foreign = scan(msgs, after)
    frontier = store.frontier
    rows: list[tuple[int, bytes, int]] = []
    leaves: list[bytes] = []
    last_seq, root = store.stream_seq, store.root
    for b in batches:
        tree = consistent(frontier, b, verifier)
        if tree is None:
            continue  # does not extend the log: skipped, as the writer skipped it
        rows.extend((seq, data, off) for seq, (data, off) in zip(b.part_seqs, b.parts, strict=True))
        leaves.extend(b.leaves)
        frontier, last_seq, root = tree, b.last_seq, tree.root()
    added = frontier.size - store.size
    if rows:
        store.add(
            rows,
            size=frontier.size,
            root=root,
            frontier=frontier,
            stream_seq=max(last_seq, stop),
            origin=verifier.name,
            leaves=leaves,
        )
    return added if rows else 0


def _add_view(store: IndexStore, verifier: Verifier, msgs: list) -> int:
    """An agency's chunk: tiles extend the frontier to each checkpoint; view entries must be those leaves."""
    frontier = store.frontier.copy()
    committed = frontier.copy()  # the tree at the last checkpoint read
    leaves: list[bytes] = []
    pending: list[tuple[int, bytes, list[bytes]]] = []
    rows: list[tuple[int, bytes, list[bytes]]] = []
    root, committed_leaves, last_seq = store.root, 0, store.stream_seq
    for seq, subject, data in msgs:
        try:
            if subject == AUDIT_TREE_SUBJECT:
                tile = decode_tree(data)
                if tile.first == committed.size < frontier.size:
                    # the leaves since the last checkpoint were an append cut short: this one replaces it
                    frontier, pending = committed.copy(), []
                    del leaves[committed_leaves:]
                if tile.first != frontier.size:
                    continue  # not the next leaves of this log: foreign
                frontier.extend(tile.leaves)
                leaves.extend(tile.leaves)
            elif subject == AUDIT_CHECKPOINT_SUBJECT:
                cp, _ = open_checkpoint(data, verifier)
                if (cp.size, cp.root) != (frontier.size, frontier.root()):
                    continue
                rows.extend(pending)
                pending, root, committed_leaves, last_seq = [], cp.root, len(leaves), seq
                committed = frontier.copy()
            else:
                _, lines = decode_view(data)
                pending.append((seq, data, lines))
        except (BundleError, NoteError):
            continue
    base = store.size
    for seq, _, lines in rows:
        for line in lines:
            i = claimed_index(line)
            if i is None or not base <= i < base + committed_leaves:
                raise TrailProblem("altered", f"stream seq {seq}", "an entry in the view that the tree does not hold")
            if leaf_hash(line) != leaves[i - base]:
                raise TrailProblem("altered", f"entry {i}", "the view's copy is not the entry the log holds there")
    if committed_leaves:
        tree = store.frontier.copy()
        tree.extend(leaves[:committed_leaves])
        bundles = [(seq, data, data.index(b"\n") + 1) for seq, data, _ in rows]
        store.add(
            bundles, size=tree.size, root=root, frontier=tree, stream_seq=last_seq, origin=verifier.name,
            leaves=leaves[:committed_leaves],
        )  # fmt: skip
    return sum(len(lines) for _, _, lines in rows)


async def indexed_query(
    nc: nats.NATS,
    store: IndexStore,
    verifier: Verifier,
    identity: str,
    progress: Callable | None = None,
    *,
    from_stream: bool = False,
    **filters,
) -> list[bytes]:
    """The exact bytes of every decision matching ``filters`` (see `IndexStore.find`), in log order."""
    await catch_up(nc, store, verifier, identity, progress)
    hits = store.find(**filters)
    if not hits:
        return []
    if from_stream:
        with reading():
            data = await _from_stream(nc, hits)
    else:
        data = store.read(hits)
    expected = store.leaf_hashes_at([h[0] for h in hits])
    got = leaf_hashes(data)
    for (idx, *_), want, have in zip(hits, expected, got, strict=True):
        if want != have:
            where = f"in the {AUDIT_STREAM} stream" if from_stream else "in the index's copy"
            raise TrailProblem("altered", f"entry {idx}", f"its stored bytes {where} are not the leaf indexed")
    return data


async def _from_stream(nc, hits: list[tuple[int, int, int, int]]) -> list[bytes]:
    bundles: dict[int, dict[int, bytes]] = {}
    for _, seq, _, _ in hits:
        if seq in bundles:
            continue
        m = await direct_get(nc, AUDIT_STREAM, seq=seq)
        found: dict[int, bytes] = {}
        if m is not None:
            try:
                head, entries = decode_bundle(m.data)
                found = {head.first + k: e for k, e in enumerate(entries)}
            except BundleError:
                pass
        bundles[seq] = found
    out = []
    for idx, seq, _, _ in hits:
        if idx not in bundles[seq]:
            raise TrailProblem(
                "removed", f"entry {idx}", f"it was indexed from stream seq {seq}, which no longer has it"
            )
        out.append(bundles[seq][idx])
    return out
