"""Building one append: entries into parts (bundle, leaf hashes, views) and the signed checkpoint.

Pure: the writer (`_appender.py`) hands it the entries and where the log stands, and sends the
messages it returns as one chain (`chain`: each stored only right after the one before it). A
part holds at most `PART_BYTES` of entries, so a large router batch still fits the server's
message size; views go to each agency that is
origin or recipient of an entry of the part (never to ``-``, the "nobody" of a refused record),
and an agency auditor's own lookups to its agency (its security chief sees its lookup history).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from samband.schemas.layout import (
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_LOG_SUBJECT,
    AUDIT_TREE_SUBJECT,
    identity_agency,
    view_subject,
)

from ._bundle import BundleHeader, ViewHeader, encode_bundle, encode_tree, encode_view
from ._checkpoint import LogKey
from ._entry import AuditRecord, Entry, Lookup, encode_entry
from ._tree import CompactRange, leaf_hashes

__all__ = ["PART_BYTES", "Built", "build_batch", "chain"]

PART_BYTES = 1 << 20  # entries per message, in bytes (the server's max_payload is 2 MiB)
_TOKEN = re.compile(r"[a-z][a-z0-9_]*")


@dataclass
class Built:
    messages: list[tuple[str, bytes]]  # (subject, payload), in the order they must be stored
    encoded: list[bytes]  # each entry's stored bytes, in leaf order
    frontier: CompactRange  # after the batch
    checkpoint: bytes
    ingest_high: int


def build_batch(
    entries: Sequence[Entry], *, size: int, frontier: CompactRange, after: int, term: int, ingest_high: int, key: LogKey
) -> Built:
    """The messages of one append of ``entries`` at leaf ``size`` after stream sequence ``after``."""
    encoded = [encode_entry(e, size + i) for i, e in enumerate(entries)]
    for e in entries:
        if isinstance(e, AuditRecord) and e.ingest_seq > ingest_high:
            ingest_high = e.ingest_seq
    parts = _parts(encoded)
    views_per_part = [_views(entries, lo, hi) for lo, hi in parts]
    count = sum(2 + len(v) for v in views_per_part) + 1
    tree = frontier.copy()
    out: list[tuple[str, bytes]] = []
    for (lo, hi), views in zip(parts, views_per_part, strict=True):
        chunk = encoded[lo:hi]
        leaves = leaf_hashes(chunk)
        tree.extend(leaves)
        head = BundleHeader(
            first=size + lo, count=hi - lo, term=term, after=after, messages=count, ingest_high=ingest_high
        )
        out.append((AUDIT_LOG_SUBJECT, encode_bundle(head, chunk)))
        out.append((AUDIT_TREE_SUBJECT, encode_tree(size + lo, leaves, tree.hashes)))
        view_size = size + len(encoded)
        for agency, idxs in views.items():
            body = encode_view(ViewHeader(agency=agency, size=view_size), [encoded[k] for k in idxs])
            out.append((view_subject(agency), body))
    checkpoint = key.sign(tree.size, tree.root())
    out.append((AUDIT_CHECKPOINT_SUBJECT, checkpoint))
    return Built(out, encoded, tree, checkpoint, ingest_high)


def _parts(encoded: list[bytes]) -> list[tuple[int, int]]:
    parts, lo, used = [], 0, 0
    for i, e in enumerate(encoded):
        if i > lo and used + len(e) > PART_BYTES:
            parts.append((lo, i))
            lo, used = i, 0
        used += len(e) + 1
    parts.append((lo, len(encoded)))
    return parts


def _views(entries: Sequence[Entry], lo: int, hi: int) -> dict[str, list[int]]:
    views: dict[str, list[int]] = {}
    named: dict[str, bool] = {}  # each agency's name checked once per part, not once per entry
    for k in range(lo, hi):
        e = entries[k]
        parties: tuple[str, ...]
        if isinstance(e, AuditRecord):  # the hot case: a decision's origin and recipient
            origin, recipient = e.origin, e.recipient
            parties = (origin,) if origin == recipient else (origin, recipient)
        elif isinstance(e, Lookup):
            parties = (identity_agency(e.identity) or "-",)
        else:
            continue
        for agency in parties:
            ok = named.get(agency)
            if ok is None:
                ok = named[agency] = _TOKEN.fullmatch(agency) is not None
            if ok:
                listed = views.get(agency)
                if listed is None:
                    views[agency] = [k]
                else:
                    listed.append(k)
    return {a: views[a] for a in sorted(views)}


def chain(messages: Sequence[tuple[str, bytes]], chain_id: str, after: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """``messages`` with the headers that let the server store them only as one unbroken run right
    after stream sequence ``after``: the first expects that last sequence, each next one the message
    before it as the stream's last (by msg id). A message refused, or one slipped in between, makes
    every later one refused, the checkpoint last among them: an append is whole or has no checkpoint."""
    out = []
    for i, (subject, payload) in enumerate(messages, start=1):
        headers = {"Nats-Msg-Id": f"{chain_id}.{i}"}
        if i == 1:
            headers["Nats-Expected-Last-Sequence"] = str(after)
        else:
            headers["Nats-Expected-Last-Msg-Id"] = f"{chain_id}.{i - 1}"
        out.append((subject, payload, headers))
    return out
