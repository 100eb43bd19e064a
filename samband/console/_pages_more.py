"""The console's pages that ask the broker each time: integrity, reconciliation, dead letters, policy,
exports, outcomes."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import tempfile
from collections import defaultdict
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from samband.observability.audit import ENTRY_DECODER, AuditRecord, page, read_cosignatures, reconcile, write_selection

from ._app import render
from ._charts import outcomes_svg
from ._errors import ConsoleError
from ._filters import FilterError, Filters
from ._pages import _agencies, _form, _recorded
from ._readers import dead_letters, integrity, newest_checkpoint, outcomes, policy, receipts

__all__ = ["routes"]

MAX_EXPORT = 100_000  # entries in one export of a filter


async def integrity_page(request: Request) -> Response:
    """The last verification (one is made when there is none, or when asked with the button)."""
    state = request.app.state
    if request.method == "POST" or "integrity" not in state.cache:
        state.cache["integrity"] = await integrity(state.backend, state.config.checkpoint_interval)
        if request.method == "POST":
            return RedirectResponse("/integrity", status_code=303)
    result = state.cache["integrity"]
    return render(request, "integrity.html", status=200, result=result)


async def reconcile_page(request: Request) -> Response:
    backend = request.app.state.backend
    await backend.fresh()
    assert backend.reader is not None
    delivered: list[bytes] = []
    cursor = None
    while len(delivered) < 1_000_000:
        got = page(backend.reader, before=cursor, limit=200, decision="allow")
        delivered.extend(got.entries)
        if got.older is None:
            break
        cursor = got.older
    got_receipts = await receipts(backend)
    result = reconcile(delivered, got_receipts)
    by_key: dict[tuple[str, str], AuditRecord] = {}
    for data in delivered:
        rec = ENTRY_DECODER.decode(data)
        if isinstance(rec, AuditRecord):
            by_key[(rec.envelope_id, rec.recipient)] = rec
    now = _dt.datetime.now(_dt.UTC)
    pairs: dict[tuple[str, str], dict] = defaultdict(lambda: {"gaps": 0, "oldest": None, "kinds": defaultdict(int)})
    rows = []
    for g in result.gaps:
        rec = by_key.get((g.envelope_id, g.recipient))
        origin = rec.origin if rec else "?"
        p = pairs[(origin, g.recipient)]
        p["gaps"] += 1
        p["kinds"][g.kind] += 1
        if rec is not None and (p["oldest"] is None or rec.at < p["oldest"]):
            p["oldest"] = rec.at
        rows.append((origin, g, rec))
    chosen = request.query_params.get("pair", "")
    drill = [r for r in rows if f"{r[0]}:{r[1].recipient}" == chosen] if chosen else []
    summary = sorted(
        (
            (o, r, v["gaps"], (now - v["oldest"]) if v["oldest"] else None, dict(v["kinds"]))
            for (o, r), v in pairs.items()
        ),
        key=lambda x: (-(x[3].total_seconds() if x[3] else 0), x[0], x[1]),
    )
    return render(
        request,
        "reconcile.html",
        result=result,
        summary=summary,
        drill=drill[:500],
        pair=chosen[:80],
        scoped=backend.agency,
    )


async def deadletters_page(request: Request) -> Response:
    backend = request.app.state.backend
    letters = await dead_letters(backend)
    groups: dict[str, list] = defaultdict(list)
    for seq, letter in letters:
        groups[letter.reason].append((seq, letter))
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    return render(request, "deadletters.html", groups=ordered, total=len(letters))


async def policy_page(request: Request) -> Response:
    from samband._platform import shipped_policy_dir

    view = await policy(request.app.state.backend, shipped_policy_dir())
    return render(request, "policy.html", view=view)


async def outcomes_page(request: Request) -> Response:
    backend = request.app.state.backend
    report = await outcomes(backend)
    chart = None
    if report is not None:
        from ._app import labels_for

        chart = outcomes_svg(report, labels_for(request))
    return render(request, "outcomes.html", report=report, chart=chart)


async def exports_page(request: Request) -> Response:
    try:
        filters = Filters.parse(dict(request.query_params), _agencies(request))
    except FilterError as exc:
        return render(request, "exports.html", status=400, error=str(exc), filters=Filters())
    return render(request, "exports.html", filters=filters)


async def _selected(request: Request) -> tuple[Filters, list[tuple[int, bytes]]]:
    backend = request.app.state.backend
    form = await _form(request)
    filters = Filters.parse({k: v for k, v in form.items() if k not in ("before", "after")}, _agencies(request))
    await backend.fresh(force=True)
    out: list[tuple[int, bytes]] = []
    cursor = None
    while len(out) < MAX_EXPORT:
        got = page(backend.reader, before=cursor, limit=200, **filters.query())
        out.extend(zip(got.indexes, got.entries))
        if got.older is None:
            break
        cursor = got.older
    out.reverse()  # log order
    return filters, out


_CSV_FIELDS = (
    "index", "at", "envelope_id", "record_type", "origin", "recipient", "region", "operation", "decision", "rule",
    "policy_version", "legal_basis", "purpose", "fields", "delivered_sha256", "subjects", "trace_id",
)  # fmt: skip


async def export_csv(request: Request) -> Response:
    try:
        filters, selected = await _selected(request)
    except FilterError as exc:
        return render(request, "exports.html", status=400, error=str(exc), filters=Filters())
    await request.app.state.backend.record("export-csv", _recorded(filters), len(selected))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(_CSV_FIELDS)
    for _, data in selected:
        r = ENTRY_DECODER.decode(data)
        if isinstance(r, AuditRecord):
            w.writerow(
                [
                    r.index, r.at.isoformat(), r.envelope_id, r.record_type, r.origin, r.recipient, r.region,
                    r.operation, r.decision, r.rule, r.policy_version, r.legal_basis or "", r.purpose or "",
                    " ".join(r.fields), r.delivered_sha256 or "", " ".join(r.subjects), r.trace_id or "",
                ]
            )  # fmt: skip
    name = f"samband-audit-{request.app.state.backend.identity}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def export_signed(request: Request) -> Response:
    backend = request.app.state.backend
    try:
        filters, selected = await _selected(request)
    except FilterError as exc:
        return render(request, "exports.html", status=400, error=str(exc), filters=Filters())
    newest = await newest_checkpoint(backend)
    if newest is None:
        raise ConsoleError("the log has no checkpoint yet: nothing to export")
    if newest[1] != backend.reader.size:  # appended meanwhile: the index catches up to the same checkpoint
        await backend.fresh(force=True)
        filters, selected = await _selected(request)
        newest = await newest_checkpoint(backend)
        if newest is None or newest[1] != backend.reader.size:
            raise ConsoleError("the log grew while it was exported: export again")
    await backend.record("export-signed", _recorded(filters), len(selected))
    tmp = Path(tempfile.mkdtemp(prefix="samband-console-"))
    out = tmp / f"samband-audit-{backend.identity}.jsonl"
    write_selection(
        out,
        backend.reader,
        selected,
        newest[0],
        backend.verifier,
        agency=backend.agency,
        cosignatures=await read_cosignatures(backend.require()),
        since=filters.since,
        until=filters.until,
    )

    def cleanup() -> None:
        out.unlink(missing_ok=True)
        tmp.rmdir()

    return FileResponse(out, media_type="application/jsonl", filename=out.name, background=BackgroundTask(cleanup))


routes = [
    Route("/integrity", integrity_page, methods=["GET", "POST"]),
    Route("/reconcile", reconcile_page),
    Route("/deadletters", deadletters_page),
    Route("/policy", policy_page),
    Route("/outcomes", outcomes_page),
    Route("/exports", exports_page),
    Route("/exports/csv", export_csv, methods=["POST"]),
    Route("/exports/signed", export_signed, methods=["POST"]),
]
