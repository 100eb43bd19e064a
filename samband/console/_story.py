"""One record's story: every decision about it, the delivery and the recipient's receipt, and its trace.

The decisions come from the identity's index: one record's decisions are appended in one batch, so
they stand together in the log (`neighbours`). The trace is a span tree: from the log alone, the
trace id and each decision's span id under it; and when a trace query URL is configured
(``--traces-url`` or ``SAMBAND_TRACES_URL``, ``{trace_id}`` in it), the whole trace as the
collector has it. Two JSON shapes are read: OTLP/JSON (``resourceSpans`` or Tempo's ``batches``,
``GET /api/traces/<id>``) and Jaeger's query API (``data[].spans``, ``GET /api/traces/<id>``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import msgspec

from samband.observability.audit import ENTRY_DECODER, AuditRecord, neighbours
from samband.schemas import Receipt

from ._backend import Backend

__all__ = ["MAX_TRACE_BYTES", "Span", "Story", "collector_spans", "span_tree", "story"]

MAX_TRACE_BYTES = 8 << 20
_RECEIPT = msgspec.json.Decoder(Receipt)


@dataclass
class Span:
    span_id: str
    name: str
    service: str = ""
    parent: str | None = None
    duration_ms: float | None = None
    decision: AuditRecord | None = None  # the decision this span decided, when the log has it
    children: list[Span] = field(default_factory=list)


@dataclass
class Story:
    index: int
    envelope_id: str
    decisions: list[tuple[int, AuditRecord]] = field(default_factory=list)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    trace_id: str | None = None
    spans: list[Span] = field(default_factory=list)
    trace_source: str = "the audit log"
    trace_error: str | None = None


def story(backend: Backend, index: int) -> Story | None:
    """The decisions about the record of the entry at ``index`` (None: no decision there in this index)."""
    assert backend.reader is not None
    around = [ENTRY_DECODER.decode(e) for e in neighbours(backend.reader, index)]
    this = next((r for r in around if isinstance(r, AuditRecord) and r.index == index), None)
    if this is None:
        return None
    out = Story(index=index, envelope_id=this.envelope_id, trace_id=this.trace_id)
    out.decisions = [(r.index, r) for r in around if isinstance(r, AuditRecord) and r.envelope_id == this.envelope_id]
    return out


def add_receipts(s: Story, receipts: list[tuple[str, bytes]]) -> None:
    """The recipients' receipts for the story's record; the recipient is the subject's (the server's) word."""
    wanted = {r.recipient for _, r in s.decisions if r.decision == "allow"}
    for subject, payload in receipts:
        parts = subject.split(".")
        agency = parts[1] if len(parts) > 1 else ""
        if agency not in wanted:
            continue
        try:
            rec = _RECEIPT.decode(payload)
        except msgspec.DecodeError:
            continue
        if rec.envelope_id == s.envelope_id and rec.recipient == agency:
            s.receipts.setdefault(agency, rec)


def span_tree(s: Story, collected: list[Span] | None) -> list[Span]:
    """The trace as a tree; the decisions' spans marked. Without a collector: the trace, its decisions."""
    by_span = {r.span_id: r for _, r in s.decisions if r.span_id}
    if collected:
        nodes = {sp.span_id: sp for sp in collected}
        for sp in collected:
            sp.decision = by_span.get(sp.span_id)
        roots: list[Span] = []
        for sp in sorted(collected, key=lambda x: x.name):
            parent = nodes.get(sp.parent) if sp.parent else None
            (parent.children if parent is not None else roots).append(sp)
        return roots
    root = Span(span_id=s.trace_id or "-", name=f"trace {s.trace_id or '-'}")
    for _, r in s.decisions:
        root.children.append(Span(span_id=r.span_id or "-", name=f"decide {r.recipient}", service="router", decision=r))
    return [root]


def _hex(value: Any) -> str:
    text = str(value or "")
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text


def collector_spans(doc: Any, trace_id: str) -> list[Span]:
    """The spans of ``trace_id`` in a collector's JSON answer (OTLP/JSON or Jaeger), [] if none."""
    out: list[Span] = []
    if not isinstance(doc, dict):
        return out
    for batch in doc.get("resourceSpans") or doc.get("batches") or []:
        attrs = (batch.get("resource") or {}).get("attributes") or []
        service = next((a.get("value", {}).get("stringValue", "") for a in attrs if a.get("key") == "service.name"), "")
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            for sp in scope.get("spans") or []:
                if _hex(sp.get("traceId")) != trace_id:
                    continue
                start, end = int(sp.get("startTimeUnixNano") or 0), int(sp.get("endTimeUnixNano") or 0)
                out.append(
                    Span(
                        span_id=_hex(sp.get("spanId")),
                        name=str(sp.get("name", "")),
                        service=service,
                        parent=_hex(sp.get("parentSpanId")) or None,
                        duration_ms=(end - start) / 1e6 if end >= start > 0 else None,
                    )
                )
    for trace in doc.get("data") or []:
        if not isinstance(trace, dict) or _hex(trace.get("traceID")) != trace_id:
            continue
        processes = trace.get("processes") or {}
        for sp in trace.get("spans") or []:
            parent = next((r.get("spanID") for r in sp.get("references") or [] if r.get("refType") == "CHILD_OF"), None)
            out.append(
                Span(
                    span_id=_hex(sp.get("spanID")),
                    name=str(sp.get("operationName", "")),
                    service=str((processes.get(sp.get("processID")) or {}).get("serviceName", "")),
                    parent=_hex(parent) if parent else None,
                    duration_ms=float(sp.get("duration") or 0) / 1000.0,
                )
            )
    return out


def _fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3.0) as resp:
        data = resp.read(MAX_TRACE_BYTES + 1)
    if len(data) > MAX_TRACE_BYTES:
        raise ValueError(f"Expected a trace of at most {MAX_TRACE_BYTES} bytes, got more")
    return json.loads(data)


async def with_trace(s: Story, traces_url: str | None) -> None:
    """Build the story's span tree, from the collector when one is configured."""
    collected: list[Span] | None = None
    if traces_url and s.trace_id:
        url = traces_url.replace("{trace_id}", s.trace_id)
        try:
            collected = collector_spans(await asyncio.to_thread(_fetch, url), s.trace_id) or None
            s.trace_source = f"the collector ({url.split('?')[0]})" if collected else s.trace_source
        except (OSError, ValueError) as exc:
            s.trace_error = f"Expected the trace from {url.split('?')[0]}, got {type(exc).__name__}: {exc}"[:300]
    s.spans = span_tree(s, collected)
