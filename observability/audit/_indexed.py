"""`samband audit query` over the broker: bring the persisted index up to date, look up, fetch the hits.

Catching up reads only what was appended since the last indexed sequence. Before trusting
the index it checks, at the join point, that the stream still holds what was indexed: the
stream starts at seq 1 and reaches at least the last indexed sequence, the stored bytes of
that sequence still hash to the indexed head, and (if new records follow) the next record's
``prev`` is that head. Every signed checkpoint not yet seen is checked (signature, and its
head against the indexed hash at its sequence). The hits are fetched from the AUDIT stream
by sequence, so what is shown is the stored bytes, and each must hash to what was indexed.

Anything that does not hold raises `TrailProblem` (kind, sequence, what): the query gives no
answer rather than one that could be incomplete. See "Query" in docs/audit.md.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas.layout import AUDIT_CHECKPOINT_STREAM as CHECKPOINT_STREAM
from samband.schemas.layout import AUDIT_STREAM

from ..bus import StreamGap, fetch_seqs, read_range
from ._checkpoint import CHECKPOINT_DECODER, checkpoint_signature_ok
from ._errors import AuditUnavailable, reading
from ._store import IndexMoved, IndexStore, TrailProblem

__all__ = ["CHUNK", "catch_up", "indexed_query"]

CHUNK = 50_000  # records read and indexed per transaction (a cut-short build resumes from the last)
_FETCH_ONE_BY_ONE = 2000  # more hits than this are read as one range instead of one get each


async def _info(js, stream: str):
    try:
        return await js.stream_info(stream)
    except NotFoundError:
        return None
    except (TimeoutError, JsError, NatsError) as exc:
        raise AuditUnavailable(f"cannot read stream {stream}: {exc!r}") from exc


async def catch_up(nc, store: IndexStore, public_key=None, progress: Callable[[int, int], None] | None = None) -> int:
    """Index what was appended since ``store.last_seq``; returns how many records were added."""
    with reading():
        return await _catch_up(nc, store, public_key, progress)


async def _catch_up(nc, store: IndexStore, public_key, progress: Callable[[int, int], None] | None) -> int:
    js = nc.jetstream()
    indexed = store.last_seq
    # one round trip for the three questions
    cp_info, info, stored_last = await asyncio.gather(
        _info(js, CHECKPOINT_STREAM),
        _info(js, AUDIT_STREAM),
        fetch_seqs(nc, AUDIT_STREAM, [indexed] if indexed else []),
    )
    if info is None:
        raise AuditUnavailable(f"cannot read stream {AUDIT_STREAM}: it does not exist")
    first, last = info.state.first_seq, info.state.last_seq
    created = info.created.isoformat() if info.created else ""
    if indexed and store.stream_created and created and created != store.stream_created:
        raise TrailProblem(
            "removed",
            1,
            f"the {AUDIT_STREAM} stream was created anew ({created}) since it was indexed "
            f"(created {store.stream_created}): the {indexed} records indexed are not in it",
        )
    if info.state.messages and first != 1:
        raise TrailProblem(
            "removed", 1, f"the {AUDIT_STREAM} stream starts at seq {first}: seq 1..{first - 1} are gone"
        )
    if last < indexed:
        raise TrailProblem(
            "removed",
            last + 1,
            f"the {AUDIT_STREAM} stream ends at seq {last} but seq 1..{indexed} "
            f"were indexed: seq {last + 1}..{indexed} are gone",
        )
    if indexed:
        stored = stored_last[indexed]
        if stored is None:
            raise TrailProblem(
                "removed", indexed, f"seq {indexed}, the last one indexed, is not in the {AUDIT_STREAM} stream"
            )
        if hashlib.sha256(stored).hexdigest() != store.head:
            raise TrailProblem(
                "altered", indexed, f"the stored bytes of seq {indexed} no longer hash to the head indexed"
            )
    elif created:
        store.note_stream(created)
    added = 0
    while store.last_seq < last:
        start = store.last_seq + 1
        stop = min(last, start + CHUNK - 1)
        try:
            records = await read_range(nc, AUDIT_STREAM, start, stop)
        except StreamGap as exc:
            raise TrailProblem("removed", exc.seq, str(exc)) from exc
        try:
            store.add(start, records)  # checks the link to the head indexed, then every link after it
        except IndexMoved:
            store.reload()  # another query indexed these meanwhile; go on from where it got
            continue
        added += len(records)
        if progress and last - indexed > CHUNK:  # only a long build says how far it got
            progress(store.last_seq, last)
    if cp_info is not None and cp_info.state.last_seq >= store.checkpoint_next:
        await _check_checkpoints(nc, store, public_key, cp_info.state.last_seq)
    return added


async def _check_checkpoints(nc, store: IndexStore, public_key, last: int) -> None:
    try:
        stored = await read_range(nc, CHECKPOINT_STREAM, store.checkpoint_next, last)
    except StreamGap as exc:
        raise TrailProblem("bad-checkpoint", -1, str(exc)) from exc
    for n, data in enumerate(stored, start=store.checkpoint_next):
        try:
            cp = CHECKPOINT_DECODER.decode(data)
        except ValueError as exc:
            raise TrailProblem("bad-checkpoint", -1, f"checkpoint #{n} cannot be read: {exc}") from exc
        if public_key is not None and not checkpoint_signature_ok(cp, public_key):
            raise TrailProblem(
                "bad-checkpoint", cp.seq, f"checkpoint at seq {cp.seq} (head {cp.head[:16]}…) has a bad signature"
            )
        digest = store.sha256(cp.seq)
        if digest is None:
            # signed after we read AUDIT's state (its record is there, just not indexed yet: it
            # is checked next time), or its record is gone
            info = await _info(nc.jetstream(), AUDIT_STREAM)
            if info is not None and info.state.last_seq >= cp.seq:
                return
            raise TrailProblem(
                "removed",
                store.last_seq + 1,
                f"a signed checkpoint vouches for seq {cp.seq} but the {AUDIT_STREAM} stream ends "
                f"at seq {info.state.last_seq if info else 0}",
            )
        if digest.hex() != cp.head:
            raise TrailProblem(
                "altered",
                cp.seq,
                f"the chain indexed does not meet the signed checkpoint at seq {cp.seq}: it was rewritten before it",
            )
        store.checked_checkpoint(n)


async def indexed_query(
    nc, store: IndexStore, public_key=None, progress=None, *, from_stream: bool = False, **filters
) -> list[bytes]:
    """The stored bytes of every record matching ``filters`` (see `IndexStore.find`), in trail order:
    the copies taken when indexing, or with ``from_stream`` fetched from the AUDIT stream now."""
    await catch_up(nc, store, public_key, progress)
    with reading():
        return await _fetch_hits(nc, store, from_stream, filters)


async def _fetch_hits(nc, store: IndexStore, from_stream: bool, filters) -> list[bytes]:
    hits = store.find(copies=not from_stream, **filters)
    if not hits:
        return []
    if from_stream:
        seqs = [seq for seq, _, _ in hits]
        if len(seqs) <= _FETCH_ONE_BY_ONE:
            found = await fetch_seqs(nc, AUDIT_STREAM, seqs)
        else:
            try:
                span = await read_range(nc, AUDIT_STREAM, seqs[0], seqs[-1])
            except StreamGap as exc:
                raise TrailProblem("removed", exc.seq, str(exc)) from exc
            found = {s: span[s - seqs[0]] for s in seqs}
        hits = [(seq, digest, found.get(seq)) for seq, digest, _ in hits]
    where = f"in the {AUDIT_STREAM} stream" if from_stream else "in the index's copy"
    out = []
    sha = hashlib.sha256
    for seq, digest, data in hits:
        if data is None:
            raise TrailProblem("removed", seq, f"seq {seq} was indexed but is not in the {AUDIT_STREAM} stream")
        if sha(data).digest() != digest:
            raise TrailProblem(
                "altered", seq, f"the stored bytes of seq {seq} {where} no longer hash to what was indexed"
            )
        out.append(data)
    return out
