"""Where the log stands, read back by its writer: at start, after a refused append, and for the router.

`resume` finds the last batch this deployment's key signed that holds together (its entries
hash to its published leaf hashes, which extend to its frontier, whose root its checkpoint
signs) by walking back over the checkpoints from the stream's end (cold start), or reads what
came after the last batch in the log this writer knows (warm). A batch of another writer that
extends the log exactly is built upon; everything else after it is **foreign** (`_stream.Foreign`)
and is noted in the writer's next append as a signed incident entry. The log is never rebuilt
from anything less than a checkpoint its key signed over exactly these bytes.

A warm read starts after the log's last batch (``log_seq``), not after the stream's last message
(``last_seq``, the next append's condition): an append read half stored may be another writer's
still on its way (a leader paused mid-append sends its rest when it wakes), and whole by the next
read. Read again from its start, it is a batch to build upon; read from where the last read
ended, it was a fork (CI, 2026-11-27). The foreign messages found are always all of those after
the log's end, so the writer replaces its list with them.

`recent_keys` and `audited_after` read the tail's bundles: where the tail starts is found by a
binary search over bundle headers with direct gets (``first`` index; ``ingest_high``, the
running maximum of ingest sequences, which never decreases along the log).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas.layout import AUDIT_CHECKPOINT_SUBJECT, AUDIT_LOG_SUBJECT, AUDIT_STREAM, AUDIT_TREE_SUBJECT

from ..bus import ReadError, direct_get, read_range
from ._bundle import BundleHeader, bundle_head
from ._checkpoint import LogKey, open_checkpoint
from ._entry import ENTRY_DECODER, MAX_LISTED, AuditRecord, Incident, lookup_key
from ._errors import AuditUnavailable, BundleError, NoteError
from ._note import Verifier
from ._stream import Batch, Foreign, scan
from ._tree import CompactRange

__all__ = ["Found", "LogState", "audited_after", "consistent", "incident", "recent_keys", "resume"]

_MAX_WALK = 1000  # checkpoints walked back over before giving up on finding one that holds


@dataclass
class LogState:
    """The tree as far as the writer has it, the stream's last sequence (the next append's condition),
    the highest ingest sequence in the log and the stream sequence of the log's last batch's checkpoint
    (``log_seq``: where a re-read starts; the stream's last sequence unless foreign messages follow it)."""

    frontier: CompactRange
    last_seq: int
    ingest_high: int = 0
    log_seq: int = -1

    def __post_init__(self) -> None:
        if self.log_seq < 0:
            self.log_seq = self.last_seq

    @property
    def size(self) -> int:
        return self.frontier.size


@dataclass
class Found:
    foreign: list[Foreign] = field(default_factory=list)
    adopted_keys: list[str] = field(default_factory=list)  # decisions another writer appended meanwhile


def consistent(frontier: CompactRange, batch: Batch, verifier: Verifier) -> CompactRange | None:
    """The frontier after ``batch`` if it extends ``frontier`` exactly and its checkpoint is ``verifier``'s over it."""
    if batch.first != frontier.size or batch.entry_leaves() != batch.leaves:
        return None
    tree = frontier.copy()
    tree.extend(batch.leaves)
    if tree.hashes != batch.frontier:
        return None
    return _signed_over(batch.checkpoint, tree, verifier)


def _signed_over(checkpoint: bytes, tree: CompactRange, verifier: Verifier) -> CompactRange | None:
    """``tree`` if ``checkpoint`` is ``verifier``'s signature over its size and root."""
    try:
        cp, _ = open_checkpoint(checkpoint, verifier)
    except NoteError:
        return None
    return tree if (cp.size, cp.root) == (tree.size, tree.root()) else None


async def _stream_end(nc: nats.NATS) -> tuple[int, int, int]:
    try:
        info = await nc.jetstream().stream_info(AUDIT_STREAM)
    except NotFoundError as exc:
        raise AuditUnavailable(f"Expected the {AUDIT_STREAM} stream, it does not exist (provision it)") from exc
    except (TimeoutError, JsError, NatsError) as exc:
        raise AuditUnavailable(f"Expected the {AUDIT_STREAM} stream, got {exc!r}") from exc
    return info.state.first_seq, info.state.last_seq, info.state.messages


async def _read(nc, start: int, last: int, **kw) -> list:
    try:
        return await read_range(nc, AUDIT_STREAM, start, last, with_seqs=True, strict=False, **kw)
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc


async def resume(nc: nats.NATS, key: LogKey, known: LogState | None) -> tuple[LogState, Found]:
    """The log's state now, and what was found since ``known`` (or since the last good batch, cold)."""
    first, last, messages = await _stream_end(nc)
    if known is not None:
        if last < known.last_seq:
            raise AuditUnavailable(
                f"Expected the {AUDIT_STREAM} stream to reach seq {known.last_seq} (appended by this writer), it ends "
                f"at seq {last}: it was cut or made anew; nothing more is appended to it"
            )
        if last == known.log_seq:
            return known, Found()
        return _go_on(known, await _read(nc, known.log_seq + 1, last), key, known.log_seq, last)
    if messages == 0:
        return LogState(CompactRange(), last), Found()
    try:
        anchor = await _anchor(nc, key, last)
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc
    if anchor is None:
        state = LogState(CompactRange(), first - 1)
        msgs = await _read(nc, first, last)
        if any(subject == AUDIT_LOG_SUBJECT and _header(data) for _, subject, data in msgs):
            raise AuditUnavailable(
                f"Expected the {AUDIT_STREAM} stream to hold this deployment's log, it holds bundles but no checkpoint "
                "signed by this deployment's key: refusing to start a second log in it"
            )
        return _go_on(state, msgs, key, first - 1, last)
    return _go_on(anchor, await _read(nc, anchor.last_seq + 1, last), key, anchor.last_seq, last)


def _go_on(state: LogState, msgs: list, key: LogKey, after: int, last: int) -> tuple[LogState, Found]:
    batches, foreign = scan(msgs, after)
    found = Found(foreign=foreign)
    by_seq = {m[0]: m for m in msgs}
    for b in batches:
        tree = consistent(state.frontier, b, key.verifier)
        if tree is None:
            found.foreign.extend(
                Foreign(s, by_seq[s][1], by_seq[s][2], "an append that does not extend this log exactly")
                for s in range(b.first_seq, b.last_seq + 1)
                if s in by_seq
            )
            continue
        state = LogState(tree, b.last_seq, b.ingest_high)
        found.adopted_keys.extend(_keys(b.entries))
    found.foreign.sort(key=lambda f: f.seq)
    return LogState(state.frontier, last, state.ingest_high, log_seq=state.log_seq), found


async def _anchor(nc: nats.NATS, key: LogKey, last: int) -> LogState | None:
    """The last batch at or before ``last`` that holds together under ``key``'s checkpoint."""
    up_to = last
    for _ in range(_MAX_WALK):
        if up_to < 1:
            return None
        cpm = await direct_get(nc, AUDIT_STREAM, last_by_subj=AUDIT_CHECKPOINT_SUBJECT, up_to_seq=up_to)
        if cpm is None:
            return None
        up_to = cpm.seq - 1
        try:
            open_checkpoint(cpm.data, key.verifier)  # not this key's: walk on before reading more
        except NoteError:
            continue
        bm = await direct_get(nc, AUDIT_STREAM, last_by_subj=AUDIT_LOG_SUBJECT, up_to_seq=cpm.seq)
        head = _header(bm.data) if bm is not None else None
        if head is None or head.after + head.messages != cpm.seq:
            continue
        msgs = await read_range(nc, AUDIT_STREAM, head.after + 1, cpm.seq, with_seqs=True, strict=False)
        batches, foreign = scan(msgs, head.after)
        if len(batches) != 1 or foreign:
            continue
        b = batches[0]
        tree = _signed(b, key.verifier)
        if tree is not None:
            return LogState(tree, cpm.seq, b.ingest_high)
    raise AuditUnavailable(
        f"Expected a checkpoint signed by this deployment's key among the last {_MAX_WALK} in {AUDIT_STREAM}, "
        "found none that holds"
    )


def _signed(b: Batch, verifier: Verifier) -> CompactRange | None:
    """The tree after ``b`` if ``b`` holds together on its own: its entries hash to its leaf hashes,
    which make the frontier it publishes, whose root its checkpoint signs with ``verifier``'s key."""
    tree = CompactRange(b.size, b.frontier) if len(b.frontier) == b.size.bit_count() else None
    if tree is None or b.entry_leaves() != b.leaves:
        return None
    return _signed_over(b.checkpoint, tree, verifier)


def _header(data: bytes) -> BundleHeader | None:
    try:
        return bundle_head(data)[0]
    except BundleError:
        return None


class _Key(msgspec.Struct, tag="decision", tag_field="kind", forbid_unknown_fields=False):
    envelope_id: str
    recipient: str
    ingest_seq: int = 0


class _Other(msgspec.Struct, tag="incident", tag_field="kind", forbid_unknown_fields=False):
    pass


class _LookupKey(msgspec.Struct, tag="lookup", tag_field="kind", forbid_unknown_fields=False):
    lookup_seq: int = 0


_KEYS = msgspec.json.Decoder(_Key | _Other | _LookupKey)


def _keys(entries: list[bytes]) -> list[str]:
    out = []
    for data in entries:
        try:
            k = _KEYS.decode(data)
        except msgspec.DecodeError:
            continue
        if isinstance(k, _Key):
            out.append(f"{k.envelope_id}:{k.recipient}")
        elif isinstance(k, _LookupKey):
            out.append(lookup_key(k.lookup_seq))
    return out


async def _seek(nc: nats.NATS, last: int, pred: Callable[[BundleHeader], bool]) -> int:
    """The smallest stream seq from which every bundle satisfies ``pred`` (a binary search by direct gets).

    A message on ``audit.log`` that is not a bundle counts as satisfying it: the read starts earlier."""
    lo, hi = 1, last + 1
    while lo < hi:
        mid = (lo + hi) // 2
        m = await direct_get(nc, AUDIT_STREAM, seq=mid, next_by_subj=AUDIT_LOG_SUBJECT)
        head = _header(m.data) if m is not None and m.seq <= last else None
        if m is None or m.seq > last or head is None or pred(head):
            hi = mid
        else:
            lo = m.seq + 1
    return lo


async def _tail_bundles(
    nc: nats.NATS, state: LogState, verifier: Verifier, pred: Callable[[BundleHeader], bool]
) -> list[bytes]:
    """The entries of the appends from the first whose bundle satisfies ``pred`` to the log's end: of
    whole appends that ``verifier``'s key signed only (a decision in an append cut short before its
    checkpoint, or in one forged, was never audited)."""
    try:
        start = await _seek(nc, state.last_seq, pred)
        m = await direct_get(nc, AUDIT_STREAM, seq=start, next_by_subj=AUDIT_LOG_SUBJECT)
        head = _header(m.data) if m is not None and m.seq <= state.last_seq else None
        if m is not None and head is not None and head.after < m.seq <= head.after + head.messages:
            start = head.after + 1  # the first message of its append (a later part's bundle was found)
        subjects = [AUDIT_LOG_SUBJECT, AUDIT_TREE_SUBJECT, AUDIT_CHECKPOINT_SUBJECT]
        msgs = await read_range(nc, AUDIT_STREAM, start, state.last_seq, with_seqs=True, subjects=subjects)
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc
    batches, _ = scan(msgs, start - 1)
    return [e for b in batches if _signed(b, verifier) is not None for e in b.entries]


async def recent_keys(nc: nats.NATS, state: LogState, n: int, verifier: Verifier) -> list[str]:
    """The dedupe keys of the decisions among the log's last ``n`` entries."""
    if state.size == 0:
        return []
    floor = state.size - n
    return _keys(await _tail_bundles(nc, state, verifier, lambda h: h.first + h.count > floor))


async def audited_after(
    nc: nats.NATS, state: LogState, ingest_seq: int, verifier: Verifier
) -> dict[int, list[AuditRecord]]:
    """The decisions about records whose ingest sequence is above ``ingest_seq``, keyed by it."""
    out: dict[int, list[AuditRecord]] = {}
    if state.size == 0 or state.ingest_high <= ingest_seq:
        return out
    for data in await _tail_bundles(nc, state, verifier, lambda h: h.ingest_high > ingest_seq):
        try:
            k = _KEYS.decode(data)
        except msgspec.DecodeError:
            continue
        if isinstance(k, _Key) and k.ingest_seq > ingest_seq:
            rec = ENTRY_DECODER.decode(data)
            assert isinstance(rec, AuditRecord)
            out.setdefault(rec.ingest_seq, []).append(rec)
    return out


def incident(foreign: list[Foreign]) -> Incident:
    """The writer's signed note of ``foreign`` (not empty), gone past: an append cut short, or not its own."""
    listed = foreign[:MAX_LISTED]
    cut = sum(f.unfinished for f in foreign)
    if cut == len(foreign):
        what, whose = "unfinished-append", "of an append cut short before its checkpoint (not in the log)"
    else:
        what, whose = "foreign-messages", "that this log's writer did not append"
        whose += f", {cut} of them of an append cut short" if cut else ""
    return Incident(
        at=_dt.datetime.now(_dt.UTC),
        what=what,
        detail=(
            f"{len(foreign)} message(s) on the audit subjects {whose} "
            f"(stream seq {foreign[0].seq}..{foreign[-1].seq}); the writer went on after them"
        ),
        count=len(foreign),
        stream_seqs=tuple(f.seq for f in listed),
        found=tuple(
            f"{f.subject} {hashlib.sha256(f.data).hexdigest() if f.data is not None else '-'} "
            f"{len(f.data) if f.data is not None else 0}"
            for f in listed
        ),
    )
