"""The AUDIT stream read back as what the writer appended: batches, and messages that are none of them.

A batch occupies the stream sequences ``after + 1 .. after + messages`` (its bundle's header
says both, and the server placed it there: the append was conditional on ``after``). Read in
order, from a known point, each batch is: its bundle(s) on ``audit.log``, each followed by its
leaf hashes on ``audit.tree`` (and, when read, the views), and last its checkpoint. Anything
that does not take that shape where it stands is **foreign**: a message the writer did not
append there (a junk message, a copy of a genuine one replayed elsewhere, a message published
with the admin's rights). Nothing is verified here (no signature, no hash): the writer checks
a batch before building on it (`_appender.py`), the verifier names what is wrong (`_verify.py`).

Reads may leave subjects out (the verifier does not read the views): messages not read inside
a batch's span are its views; a span of unread sequences between two batches is foreign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from samband.schemas.layout import AUDIT_CHECKPOINT_SUBJECT, AUDIT_LOG_SUBJECT, AUDIT_TREE_SUBJECT, AUDIT_VIEW_PREFIX

from ._bundle import BundleHeader, bundle_head, decode_tree, decode_view
from ._errors import BundleError
from ._tree import line_leaf_hashes

__all__ = ["Batch", "Foreign", "scan"]

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


def scan(msgs: Sequence[Msg], after: int = 0) -> tuple[list[Batch], list[Foreign]]:
    """``msgs`` (in stream order, all after stream sequence ``after``) as batches and foreign messages."""
    batches: list[Batch] = []
    foreign: list[Foreign] = []
    prev, i, n = after, 0, len(msgs)
    while i < n:
        seq, subject, data = msgs[i]
        got = _batch_at(msgs, i, prev)
        if isinstance(got, str):
            foreign.append(Foreign(seq, subject, data, got))
            prev, i = seq, i + 1
            continue
        batch, i = got
        if batch.first_seq - 1 > prev:  # sequences not read before a genuine batch: not its views
            gap = batch.first_seq - 1 - prev
            why = f"stream seq {prev + 1}..{batch.first_seq - 1} sit between two appends"
            foreign.append(Foreign(prev + 1, "?", None, why, gap))
        batches.append(batch)
        prev = batch.last_seq
    return batches, foreign


def _batch_at(msgs: Sequence[Msg], i: int, prev: int) -> tuple[Batch, int] | str:
    """The batch whose first message is ``msgs[i]``, and the index after it; or why it is none."""
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
    expect_first, j, tile_due = head.first, i, False
    while j < len(msgs) and msgs[j][0] <= end:
        s, subj, body = msgs[j]
        if subj == AUDIT_LOG_SUBJECT:
            if tile_due:
                return f"bundle at stream seq {s} follows a bundle without its leaf hashes"
            if j != i:
                try:
                    head, off = bundle_head(body)
                except BundleError as exc:
                    return f"part of the append at seq {seq}..{end} is not a bundle: {exc}"
                if not _same_batch(head, batch, expect_first):
                    return f"the bundle at stream seq {s} does not continue the append at seq {seq}..{end}"
            batch.parts.append((body, off))
            batch.part_seqs.append(s)
            batch.part_counts.append(head.count)
            batch.count += head.count
            batch.ingest_high = head.ingest_high
            expect_first += head.count
            tile_due = True
        elif subj == AUDIT_TREE_SUBJECT:
            try:
                tile = decode_tree(body)
            except BundleError as exc:
                return f"the leaf hashes at stream seq {s} cannot be read: {exc}"
            if not tile_due or tile.size != expect_first:
                return f"the leaf hashes at stream seq {s} are not those of the bundle before them"
            batch.leaves.extend(tile.leaves)
            batch.leaves_raw.append(tile.raw)
            batch.frontier = tile.frontier
            tile_due = False
        elif subj.startswith(AUDIT_VIEW_PREFIX):
            try:
                view, lines = decode_view(body)
            except BundleError as exc:
                return f"the view at stream seq {s} cannot be read: {exc}"
            batch.views.setdefault(view.agency, []).extend(lines)
        elif subj == AUDIT_CHECKPOINT_SUBJECT:
            if s != end or tile_due:
                return f"a checkpoint at stream seq {s} inside the append at seq {seq}..{end}"
            batch.checkpoint = body
        else:
            return f"a message on {subj} inside the append at seq {seq}..{end}"
        j += 1
    if not batch.checkpoint or not batch.leaves:
        return f"the append at seq {seq}..{end} is not whole (no checkpoint or no leaf hashes at its end)"
    return batch, j


def _same_batch(head: BundleHeader, batch: Batch, first: int) -> bool:
    return head.after == batch.first_seq - 1 and head.after + head.messages == batch.last_seq and head.first == first
