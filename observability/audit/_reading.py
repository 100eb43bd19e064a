"""Reading the log from the broker as an identity may: the oversight the whole log, an agency its view.

Every read stops at the **newest checkpoint** (asked for first): an append is stored as one
unbroken chain ending with its checkpoint, so everything up to it is whole (or an append cut
short, which `scan` names) and nothing appended meanwhile is looked at, let alone reported
missing.

* The oversight (``auditor``) reads the bundles, leaf hashes and checkpoints of AUDIT (not the
  views), and the cosignatures; unread sequences between two batches are fetched one by one to
  say what they are (foreign messages on a view subject).
* An agency's auditor (``auditor-<agency>``) may read only its own view, the leaf hashes and
  the checkpoints, through consumers of its fixed names (`audit_consumer_names`), and the
  cosignatures; the broker refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas.layout import (
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_LOG_SUBJECT,
    AUDIT_STREAM,
    AUDIT_TREE_SUBJECT,
    AUDIT_WITNESS_STREAM,
    audit_consumer_names,
    view_subject,
)

from ..bus import ReadError, direct_get, read_range
from ._bundle import decode_tree, decode_view
from ._errors import AuditUnavailable, BundleError
from ._stream import Foreign, scan
from ._verify import LogData

__all__ = ["ViewData", "log_from_messages", "read_cosignatures", "read_log", "read_view"]

_DESCRIBE = 100  # unread foreign messages fetched one by one to be described


def log_from_messages(msgs: list[tuple[int, str, bytes]], after: int = 0, front: str = "") -> LogData:
    """``msgs`` (stream order, after sequence ``after``) as what a verifier checks."""
    batches, foreign = scan(msgs, after)
    log = LogData(foreign=foreign, front=front)
    for b in batches:
        if not log.parts:
            log.published_first = b.first
        log.parts.extend(b.parts)
        log.part_counts.extend(b.part_counts)
        log.counted += b.count
        if b.first == log.published_first + len(log.published):
            log.published.extend(b.leaves)
            log.published_raw.extend(b.leaves_raw)
        log.checkpoints.append((f"stream seq {b.last_seq}", b.checkpoint))
    return log


async def _newest_checkpoint(nc: nats.NATS) -> int:
    try:
        m = await direct_get(nc, AUDIT_STREAM, last_by_subj=AUDIT_CHECKPOINT_SUBJECT)
    except ReadError as exc:
        raise AuditUnavailable(f"{exc}; the identity may lack read access to {AUDIT_STREAM}") from exc
    return m.seq if m is not None else 0


async def read_log(nc: nats.NATS, *, witnesses: bool = True) -> LogData:
    """The whole log up to its newest checkpoint, as the oversight reads it."""
    last = await _newest_checkpoint(nc)
    if not last:
        return LogData()
    try:
        info = await nc.jetstream().stream_info(AUDIT_STREAM)
    except (TimeoutError, JsError, NatsError) as exc:
        raise AuditUnavailable(f"Expected to read stream {AUDIT_STREAM}, got {exc!r}") from exc
    first = info.state.first_seq
    front = f"the {AUDIT_STREAM} stream starts at seq {first}: seq 1..{first - 1} are gone" if first > 1 else ""
    try:
        msgs = await read_range(
            nc,
            AUDIT_STREAM,
            first,
            last,
            with_seqs=True,
            subjects=[AUDIT_LOG_SUBJECT, AUDIT_TREE_SUBJECT, AUDIT_CHECKPOINT_SUBJECT],
        )
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc
    log = log_from_messages(msgs, first - 1, front)
    await _describe(nc, log)
    if witnesses:
        log.cosignatures = await read_cosignatures(nc)
    return log


async def _describe(nc: nats.NATS, log: LogData) -> None:
    """Name the unread sequences between batches one by one (at most `_DESCRIBE`)."""
    out: list[Foreign] = []
    for f in log.foreign:
        if f.data is not None or len(out) >= _DESCRIBE:
            out.append(f)
            continue
        for seq in range(f.seq, f.seq + min(f.count, _DESCRIBE)):
            try:
                m = await direct_get(nc, AUDIT_STREAM, seq=seq)
            except ReadError:
                m = None
            if m is not None and f.unfinished:  # a view of the append cut short before it
                out.append(Foreign(seq, m.subject, m.data, f.why, unfinished=True))
            elif m is not None:
                out.append(Foreign(seq, m.subject, m.data, f"a message on {m.subject} between two appends"))
    log.foreign = out


async def read_cosignatures(nc: nats.NATS) -> list[bytes]:
    js = nc.jetstream()
    try:
        info = await js.stream_info(AUDIT_WITNESS_STREAM)
    except NotFoundError:
        return []
    except (TimeoutError, JsError, NatsError) as exc:
        raise AuditUnavailable(f"Expected to read stream {AUDIT_WITNESS_STREAM}, got {exc!r}") from exc
    if not info.state.messages:
        return []
    try:
        return await read_range(nc, AUDIT_WITNESS_STREAM, info.state.first_seq, info.state.last_seq, strict=False)
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc


@dataclass
class ViewData:
    """What an agency's auditor reads: its entries (exact bytes), every leaf hash, the checkpoints."""

    agency: str
    entries: list[bytes] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    checkpoints: list[tuple[str, bytes]] = field(default_factory=list)
    cosignatures: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # messages that are not what their subject says
    notes: list[str] = field(default_factory=list)  # appends cut short before their checkpoint, gone past


async def read_view(nc: nats.NATS, agency: str, identity: str) -> ViewData:
    """``agency``'s view, the leaf hashes and the checkpoints up to the newest checkpoint, as ``identity``."""
    view = ViewData(agency)
    last = await _newest_checkpoint(nc)
    if not last:
        return view
    names = audit_consumer_names(identity)

    async def part(subject: str) -> list:
        try:
            return await read_range(nc, AUDIT_STREAM, 1, last, with_seqs=True, subjects=[subject], names=names)
        except ReadError as exc:
            raise AuditUnavailable(f"{exc}; `{identity}` may read only its own view of {AUDIT_STREAM}") from exc

    views = await part(view_subject(agency))
    tiles = await part(AUDIT_TREE_SUBJECT)
    checkpoints = await part(AUDIT_CHECKPOINT_SUBJECT)
    _view_of(view, sorted([*views, *tiles, *checkpoints]))
    view.checkpoints = [(f"stream seq {seq}", data) for seq, _, data in checkpoints]
    view.cosignatures = await read_cosignatures(nc)
    return view


def _view_of(view: ViewData, msgs: list[tuple[int, str, bytes]]) -> None:
    """``msgs`` (the view's, the leaf hashes' and the checkpoints' messages, in stream order) into
    ``view``. An append's views and leaf hashes count once a checkpoint follows them; leaf hashes
    that start again where the last checkpoint left the tree mean the ones since then were an
    append cut short (no checkpoint came for it): its leaf hashes and views are dropped, and noted."""
    pending: list[bytes] = []
    mark = 0  # the leaves when the last checkpoint was read
    cut_at = 0  # the stream seq of the first message since that checkpoint
    for seq, subject, data in msgs:
        cut_at = cut_at or seq
        if subject == AUDIT_CHECKPOINT_SUBJECT:
            view.entries.extend(pending)
            pending, mark, cut_at = [], len(view.leaves), 0
        elif subject == AUDIT_TREE_SUBJECT:
            try:
                tile = decode_tree(data)
            except BundleError as exc:
                view.problems.append(f"stream seq {seq}: {exc}")
                continue
            if mark <= tile.first < len(view.leaves):
                view.notes.append(
                    f"an append that was not finished: stream seq {cut_at}..{seq - 1} (leaf hashes from "
                    f"{tile.first}, {len(pending)} entries in {view.agency}'s view): not in the log (no "
                    "checkpoint vouches for it)"
                )
                del view.leaves[tile.first :]
                pending, cut_at = [], seq
            if tile.first == len(view.leaves):
                view.leaves.extend(tile.leaves)
            else:
                view.problems.append(
                    f"stream seq {seq}: leaf hashes from {tile.first}, where {len(view.leaves)} was due"
                )
        else:
            try:
                head, lines = decode_view(data)
            except BundleError as exc:
                view.problems.append(f"stream seq {seq}: {exc}")
                continue
            if head.agency != view.agency:
                view.problems.append(f"stream seq {seq}: a view of {head.agency} on {view.agency}'s subject")
                continue
            pending.extend(lines)
