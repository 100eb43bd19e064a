"""The console's pages: disclosures, one record's story, lookups; the broker-backed ones in `_pages_more`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from samband.observability.audit import (
    ENTRY_DECODER,
    Lookup,
    TrailProblem,
    inclusion,
    lookup_page,
    page,
    read_view,
    timeline,
)
from samband.schemas import InvalidIdentifier

from ._app import render
from ._charts import timeline_svg
from ._errors import ConsoleError, Refused
from ._filters import FILTER_NAMES, FilterError, Filters, safe
from ._story import add_receipts, story, with_trace

__all__ = ["routes"]

PAGE = 50


def _agencies(request: Request) -> set[str]:
    cache = request.app.state.cache
    if "agencies" not in cache:
        from samband.broker_config import Deployment, builtin_agencies

        names = set(builtin_agencies())
        try:
            names |= set(Deployment.load(request.app.state.config.state_dir).agencies)
        except Exception:
            pass
        cache["agencies"] = names
    return cache["agencies"]


def _decode(entries: list[bytes]) -> list[Any]:
    return [ENTRY_DECODER.decode(e) for e in entries]


async def _home(request: Request) -> Response:
    return RedirectResponse("/disclosures", status_code=303)


async def disclosures(request: Request) -> Response:
    backend = request.app.state.backend
    query = dict(request.query_params)
    if "person" in query:  # a personnummer in a URL: pseudonymised, the browser sent on without it
        return _person_redirect(request, query.pop("person"), query)
    try:
        filters = Filters.parse(query, _agencies(request))
    except FilterError as exc:
        return render(request, "disclosures.html", status=400, error=str(exc), filters=Filters(), rows=[], view=None)
    other = query.get("view")
    if other and other != backend.agency and backend.agency is not None:
        return await _other_view(request, safe(other, 40))
    state = await backend.fresh()
    if state.problem:
        return render(request, "disclosures.html", status=409, error=state.problem, filters=filters, rows=[])
    assert backend.reader is not None
    try:
        got = page(backend.reader, before=filters.before, after=filters.after, limit=PAGE, **filters.query())
        tl = _timeline(request, filters)
    except TrailProblem as exc:
        return render(request, "disclosures.html", status=409, error=str(exc), filters=filters, rows=[])
    subject = filters.values.get("subject")
    if subject:  # a person search is recorded before its answer is shown
        await backend.record("person-search", _recorded(filters), tl[1])
    return render(
        request,
        "disclosures.html",
        filters=filters,
        rows=_decode(got.entries),
        older=filters.url("/disclosures", before=got.older) if got.older is not None else None,
        newer=filters.url("/disclosures", after=got.newer) if got.newer is not None else None,
        first=filters.url("/disclosures") if got.newer is not None else None,
        chart=tl[0],
        total=tl[1],
        estimated=tl[2],
        sampled=tl[3],
        person=backend.masked(subject) if subject else None,
        without_person=Filters(
            values={k: v for k, v in filters.values.items() if k != "subject"}, since=filters.since, until=filters.until
        ).url("/disclosures"),
        state=state,
    )


def _timeline(request: Request, filters: Filters) -> tuple[str, int, bool, bool]:
    """The chart and count of a filter: cached per filter, index size and language (a page turns cheaply)."""
    backend = request.app.state.backend
    from ._app import labels_for

    t = labels_for(request)
    key = ("timeline", filters.key(), backend.reader.size, t.lang)
    cache = request.app.state.cache
    if key not in cache:
        tl = timeline(backend.reader, **filters.query())
        cache[key] = (timeline_svg(tl, t) if tl.total else "", tl.total, tl.estimated, tl.sampled)
        if len(cache) > 64:
            for k in [k for k in cache if isinstance(k, tuple) and k[0] == "timeline"][:32]:
                del cache[k]
    return cache[key]


def _recorded(filters: Filters) -> dict[str, str]:
    """The filter as it goes into the lookup entry (the person as its pseudonym; times in ISO 8601)."""
    out = {("person" if k == "subject" else k): v for k, v in filters.form().items()}
    for name in ("before", "after"):
        if getattr(filters, name) is not None:
            out[name] = str(getattr(filters, name))
    return out


def _person_redirect(request: Request, person: str, rest: dict[str, str]) -> Response:
    backend = request.app.state.backend
    try:
        subject, _ = backend.pseudonym(person[:40])
    except (InvalidIdentifier, ConsoleError) as exc:
        filters = Filters()
        return render(request, "disclosures.html", status=400, error=safe(str(exc), 200), filters=filters, rows=[])
    kept = {k: v for k, v in rest.items() if k in FILTER_NAMES or k in ("since", "until")}
    kept["subject"] = subject
    from urllib.parse import urlencode

    return RedirectResponse(f"/disclosures?{urlencode(kept)}", status_code=303)


async def person_search(request: Request) -> Response:
    """The search form posts the personnummer (never in a URL); the page it leads to has the pseudonym."""
    form = await _form(request)
    rest = {k: v for k, v in form.items() if k != "person" and v}
    return _person_redirect(request, (form.get("person") or "").strip(), rest)


async def _form(request: Request) -> dict[str, str]:
    from urllib.parse import parse_qsl

    body = await request.body()
    if len(body) > 8192:
        raise Refused("Expected a form of at most 8192 bytes, got more")
    return dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=32))


async def _other_view(request: Request, agency: str) -> Response:
    """Ask the broker for another agency's entries with this identity's credentials: it refuses, and says so."""
    backend = request.app.state.backend
    nc = backend.require()
    try:
        await read_view(nc, agency, backend.identity)
    except Exception as exc:
        raise Refused(
            f"The broker refused `{backend.identity}` the entries of {agency}: {safe(str(exc), 300)}"
        ) from exc
    raise Refused(f"Expected the broker to refuse `{backend.identity}` the entries of {agency}; it did not")


async def record(request: Request) -> Response:
    backend = request.app.state.backend
    try:
        index = int(request.path_params["index"])
    except ValueError:
        index = -1
    await backend.fresh()
    assert backend.reader is not None
    s = story(backend, index) if 0 <= index < 1 << 62 else None
    if s is None:
        return render(request, "record.html", status=404, story=None, index=safe(str(request.path_params["index"])))
    from ._readers import receipts

    receipt_error = None
    try:
        add_receipts(s, await receipts(backend))
    except ConsoleError as exc:
        receipt_error = str(exc)
    await with_trace(s, request.app.state.config.traces_url)
    proof = inclusion(backend.reader, index) if request.query_params.get("proof") else None
    return render(request, "record.html", story=s, proof=proof, receipt_error=receipt_error, index=index)


async def lookups(request: Request) -> Response:
    backend = request.app.state.backend
    await backend.fresh()
    try:
        before = int(request.query_params.get("before", "")[:19] or -2)
    except ValueError:
        before = -2
    got = lookup_page(backend.reader, backend.identity, before=None if before == -2 else before, limit=PAGE)
    rows = [e for e in _decode(got.entries) if isinstance(e, Lookup)]
    older = f"/lookups?before={got.older}" if got.older is not None else None
    return render(request, "lookups.html", rows=rows, older=older)


async def _favicon(request: Request) -> Response:
    return Response(status_code=204)


routes = [
    Route("/", _home),
    Route("/favicon.ico", _favicon),
    Route("/disclosures", disclosures),
    Route("/disclosures/person", person_search, methods=["POST"]),
    Route("/record/{index}", record),
    Route("/lookups", lookups),
]
