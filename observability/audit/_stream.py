"""The AUDIT stream read back as what the writer appended: batches, and messages that are none of them.

A batch occupies the stream sequences ``after + 1 .. after + messages`` (its bundle's header
says both, and the server placed it there: the append was conditional on ``after``). Read in
order, from a known point, each batch is: its bundle(s) on ``audit.log``, each followed by its
leaf hashes on ``audit.tree`` (and, when read, the views), and last its checkpoint. Anything
that does not take that shape where it stands is **foreign**: a message the writer did not
append there (a junk message, a copy of a genuine one replayed elsewhere, a message published
with the admin's rights). An append cut short (its chain broken before its checkpoint: the
broker gone or full mid-append, the writer killed) is foreign too, each of its messages, but
**unfinished**: a bundle where an append may start, then parts of it, and no checkpoint; it is
not in the log (no checkpoint vouches for it) and its writer appends its entries again after
it. Nothing is verified here (no signature, no hash): the writer checks
a batch before building on it (`_appender.py`), the verifier names what is wrong (`_verify.py`).

Reads may leave subjects out (the verifier does not read the views): messages not read inside
a batch's span are its views; a span of unread sequences between two batches is foreign.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from samband.schemas.layout import AUDIT_CHECKPOINT_SUBJECT, AUDIT_LOG_SUBJECT, AUDIT_TREE_SUBJECT, AUDIT_VIEW_PREFIX

from ._bundle import BundleHeader, bundle_head, decode_tree, decode_view
from ._errors import BundleError
from ._tree import line_leaf_hashes

__all__ = ["Batch", "Foreign", "scan", "unfinished_notes"]

Msg = tuple[int, str, bytes]  # (stream sequence, subject, stored bytes)


@dataclass
class Batch:
    """One append as stored: where, by which writer's term, its bundles (kept whole, the entries cut
    out only when asked for), their published leaf hashes, the frontier after them, the checkpoint
    (as stored, not yet verified) and the views read."""

    first_seq: int
    last_seq: int
    term: int
    first: int  # the leaf index of its first entry
    ingest_high: int
    count: int = 0
    parts: list[tuple[bytes, int]] = field(default_factory=list)  # (bundle, offset of its first entry)
    part_seqs: list[int] = field(default_factory=list)  # each bundle's stream sequence
    part_counts: list[int] = field(default_factory=list)  # the entries each bundle's header says it holds
    leaves: list[bytes] = field(default_factory=list)
    leaves_raw: list[bytes | memoryview] = field(default_factory=list)  # the same, in their tiles
    frontier: list[bytes] = field(default_factory=list)
    checkpoint: bytes = b""
    views: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The tree size once this batch is appended."""
        return self.first + self.count

    @property
    def entries(self) -> list[bytes]:
        """Each entry's exact bytes."""
        return [e for data, off in self.parts for e in data[off:].split(b"\n")]

    def entry_leaves(self) -> list[bytes]:
        """Each entry's leaf hash, hashed in place in its bundle."""
        return [h for data, off in self.parts for h in line_leaf_hashes(data, off)]


@dataclass(frozen=True)
class Foreign:
    """A stream message the writer did not append where it stands (``data`` None: not read, and
    then ``count`` sequences from ``seq`` on)."""

    seq: int
    subject: str
    data: bytes | None
    why: str
    count: int = 1
    unfinished: bool = False  # a part of an append cut short before its checkpoint


def scan(msgs: Sequence[Msg], after: int = 0) -> tuple[list[Batch], list[Foreign]]:
    """``msgs`` (in stream order, all after stream sequence ``after``) as batches and foreign messages."""
    batches: list[Batch] = []
    foreign: list[Foreign] = []
    prev, i, n = after, 0, len(msgs)
    cut: tuple[int, int, int] | None = None  # the append cut short just before: its first seq, messages due, index
    while i < n:
        seq, subject, data = msgs[i]
        got = _batch_at(msgs, i, prev)
        if isinstance(got, _Unfinished):
            cut = (seq, got.messages, len(foreign))
            why = _cut_short(seq, msgs[got.end - 1][0], got.messages)
            foreign.extend(Foreign(s, subj, body, why, unfinished=True) for s, subj, body in msgs[i : got.end])
            prev, i = msgs[got.end - 1][0], got.end
            continue
        if isinstance(got, str):
            foreign.append(Foreign(seq, subject, data, got))
            prev, i, cut = seq, i + 1, None
            continue
        batch, i = got
        if batch.first_seq - 1 > prev:  # sequences not read before a genuine batch: not its views
            gap = batch.first_seq - 1 - prev
            if cut is None:
                why = f"stream seq {prev + 1}..{batch.first_seq - 1} sit between two appends"
            else:  # the unread views of the append cut short just before: named with it
                why = _cut_short(cut[0], batch.first_seq - 1, cut[1])
                foreign[cut[2] :] = [dataclasses.replace(f, why=why) for f in foreign[cut[2] :]]
            foreign.append(Foreign(prev + 1, "?", None, why, gap, unfinished=cut is not None))
        batches.append(batch)
        prev, cut = batch.last_seq, None
    return batches, foreign


@dataclass(frozen=True)
class _Unfinished:
    end: int  # the index after its last message read
    messages: int  # how many its bundle says it has


def _cut_short(first: int, last: int, messages: int) -> str:
    return f"an append that was not finished: stream seq {first}..{last} of the {messages} due, no checkpoint"


def _batch_at(msgs: Sequence[Msg], i: int, prev: int) -> tuple[Batch, int] | _Unfinished | str:
    """The batch whose first message is ``msgs[i]``, and the index after it; an append cut short
    there; or why it is none."""
    seq, subject, data = msgs[i]
    if subject != AUDIT_LOG_SUBJECT:
        return f"a message on {subject} where an append should start (a bundle on {AUDIT_LOG_SUBJECT})"
    try:
        head, off = bundle_head(data)
    except BundleError as exc:
        return f"not a bundle: {exc}"
    if head.after != seq - 1 or head.after < prev or head.messages < 3:
        return (
            f"a bundle that says it was appended after stream seq {head.after}, stored at seq {seq}: "
            "a copy, not where the writer appended it"
        )
    end = head.after + head.messages
    batch = Batch(seq, end, head.term, head.first, head.ingest_high)
    j = i
    # The first message that cannot continue the append ends it: what came before is an append cut
    # short (the chain its writer sent lets nothing in between), and that message is read anew.
    while j < len(msgs) and msgs[j][0] <= end and not batch.checkpoint:
        if not _part(batch, head if j == i else None, off, msgs[j]):
            break
        j += 1
    if not batch.checkpoint:
        return _Unfinished(j, head.messages)
    return batch, j


def _part(batch: Batch, first: BundleHeader | None, off: int, msg: Msg) -> bool:
    """Add ``msg`` to ``batch`` if it is its next part (``first``: the header of its first bundle, read)."""
    s, subj, body = msg
    tile_due = len(batch.parts) > len(batch.leaves_raw)
    expect_first = batch.first + batch.count
    if subj == AUDIT_LOG_SUBJECT:
        if tile_due:
            return False
        head = first
        if head is None:
            try:
                head, off = bundle_head(body)
            except BundleError:
                return False
            if not _same_batch(head, batch, expect_first):
                return False
        batch.parts.append((body, off))
        batch.part_seqs.append(s)
        batch.part_counts.append(head.count)
        batch.count += head.count
        batch.ingest_high = head.ingest_high
    elif subj == AUDIT_TREE_SUBJECT:
        try:
            tile = decode_tree(body)
        except BundleError:
            return False
        if not tile_due or tile.size != expect_first:
            return False
        batch.leaves.extend(tile.leaves)
        batch.leaves_raw.append(tile.raw)
        batch.frontier = tile.frontier
    elif subj.startswith(AUDIT_VIEW_PREFIX):
        try:
            view, lines = decode_view(body)
        except BundleError:
            return False
        batch.views.setdefault(view.agency, []).extend(lines)
    elif subj == AUDIT_CHECKPOINT_SUBJECT:
        if s != batch.last_seq or tile_due or not batch.leaves_raw:
            return False
        batch.checkpoint = body
    else:
        return False
    return True


def _same_batch(head: BundleHeader, batch: Batch, first: int) -> bool:
    return head.after == batch.first_seq - 1 and head.after + head.messages == batch.last_seq and head.first == first


def unfinished_notes(foreign: Sequence[Foreign]) -> list[str]:
    """One line per append cut short among ``foreign``."""
    whys = dict.fromkeys(f.why for f in foreign if f.unfinished)
    return [f"{why}: not in the log (no checkpoint vouches for it)" for why in whys]
