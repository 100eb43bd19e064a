"""`samband bench console`: pages of the console's Disclosures over a million entries, as a browser asks for them.

The log is built as the writer appends it (`_audit._build`), read into the oversight's query
index as `catch_up` does (each batch checked against its checkpoint, `IndexStore.add`), and the
console's application is served by uvicorn on a free port; each page is one HTTP GET from this
process, timed from the request to the last byte. No broker: the index is what a page reads (a
console catches it up in the background), so the figure is the page's own cost. Baseline in the
same run: the keyset query alone (`samband.observability.audit.page`), without HTTP and rendering.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import statistics
import tempfile
import threading
import time
from pathlib import Path

from ._report import Target

__all__ = ["PAGE_TARGET_MS", "console_bench", "console_figures"]

PAGE_TARGET_MS = 200.0


def _index(state: Path, n: int, batch: int) -> float:
    """The oversight's index of a log of ``n`` entries; the seconds it took to build it."""
    from samband.observability.audit import CompactRange, IndexStore, index_dir, load_or_create_signing_key, scan

    from ._audit import _build

    key = load_or_create_signing_key(state / "keys")
    messages, _, _, _ = _build(n, batch, b"k" * 32, key)
    batches, _ = scan([m for m in messages if not m[1].startswith("audit.view.")], 0)
    started = time.perf_counter()
    with IndexStore(index_dir(state, "auditor")) as store:
        tree = CompactRange()
        for b in batches:
            tree = tree.copy()
            tree.extend(b.leaves)
            rows = [(s, data, off) for s, (data, off) in zip(b.part_seqs, b.parts, strict=True)]
            store.add(
                rows, size=tree.size, root=tree.root(), frontier=tree, stream_seq=b.last_seq, origin="x",
                leaves=b.leaves,
            )  # fmt: skip
    return time.perf_counter() - started


def _serve(state: Path):
    """The console's app for the oversight on a free port, in a thread; (base URL, token, stop)."""
    import asyncio

    import uvicorn

    from samband.console import ConsoleConfig, create_app

    config = ConsoleConfig(state_dir=state, identity="auditor", lang="en")
    app = create_app(config)
    app.state.backend.open_index()
    from samband.console._charts import warm_up
    from samband.console._serve import listening_socket

    warm_up()
    sock = listening_socket("127.0.0.1")
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, access_log=False, log_config=None, lifespan="off"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        app.state.backend.reader.close()
        app.state.backend._writer.close()

    return sock.getsockname()[1], config.token, stop


def _get(conn: http.client.HTTPConnection, token: str, path: str) -> tuple[float, str]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": f"samband_console={token}"})
    resp = conn.getresponse()
    body = resp.read().decode()
    ms = (time.perf_counter() - started) * 1000
    if resp.status != 200:
        raise RuntimeError(f"Expected 200 for {path}, got {resp.status}")
    return ms, body


def _older(body: str) -> str | None:
    marker = 'href="'
    at = body.find('rel="next"')
    if at < 0:
        return None
    start = body.rfind(marker, 0, at) + len(marker)
    return body[start : body.find('"', start)].replace("&amp;", "&")


def console_bench(n: int = 1_000_000, turns: int = 20, batch: int = 2000) -> dict:
    from samband.observability.audit import IndexStore, index_dir, page

    out: dict = {"entries": n}
    with tempfile.TemporaryDirectory(prefix="samband-bench-console-") as tmp:
        state = Path(tmp)
        out["index_seconds"] = _index(state, n, batch)
        with IndexStore(index_dir(state, "auditor")) as store:  # the baseline: the keyset query alone
            times = []
            future = {"since": _dt.datetime(2030, 1, 1, tzinfo=_dt.UTC)}
            for before in (None, n // 2, 1000, None):
                for filters in ({}, {"recipient": "migrationsverket"}, future):
                    t = time.perf_counter()
                    page(store, before=before, limit=50, **filters)
                    times.append((time.perf_counter() - t) * 1000)
            out["query_p50_ms"], out["query_max_ms"] = statistics.median(times), max(times)
        port, token, stop = _serve(state)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            kinds: dict[str, list[float]] = {"first": [], "turn": [], "deep": [], "filtered": [], "nothing": []}
            for first in ("/disclosures", "/disclosures?recipient=migrationsverket"):
                ms, body = _get(conn, token, first)
                kinds["first"].append(ms)
                for _ in range(turns):
                    path = _older(body)
                    if path is None:
                        break
                    ms, body = _get(conn, token, path)
                    kinds["turn" if "recipient" not in first else "filtered"].append(ms)
            for before in (n // 2, n // 4, 2000, 60):
                kinds["deep"].append(_get(conn, token, f"/disclosures?before={before}")[0])
            for _ in range(5):  # a window with nothing in it: its index range is found by bisection
                kinds["nothing"].append(_get(conn, token, "/disclosures?since=2030-01-01")[0])
            conn.close()
        finally:
            stop()
    for kind, values in kinds.items():
        out[f"{kind}_p50_ms"] = statistics.median(values)
        out[f"{kind}_max_ms"] = max(values)
    every = [v for values in kinds.values() for v in values]
    out["pages"] = len(every)
    out["page_max_ms"] = max(every)
    out["page_met"] = out["page_max_ms"] <= PAGE_TARGET_MS
    return out


def console_figures(r: dict, records: int) -> tuple[list[tuple[str, str]], list[Target]]:
    """The table's rows and the target of a `console_bench` result."""
    rows = [
        ("read into the oversight's index (offline, every batch checked)", f"{r['index_seconds']:.1f} s"),
        ("baseline: the keyset query alone", f"p50 {r['query_p50_ms']:.1f} ms, max {r['query_max_ms']:.1f} ms"),
    ]
    for kind, what in (
        ("first", "first page of a filter (count, timeline chart drawn)"),
        ("turn", "next page (keyset cursor), no filter"),
        ("filtered", "next page of recipient=migrationsverket (1 in 6)"),
        ("deep", "a page deep in the log (cursor near the start)"),
        ("nothing", "since=2030-01-01: a window with nothing in it (an index range, no scan)"),
    ):
        rows.append((what, f"p50 {r[f'{kind}_p50_ms']:.1f} ms, max {r[f'{kind}_max_ms']:.1f} ms"))
    targets = [
        Target(
            name=f"every Disclosures page over {records:,} entries, max ms",
            target=f"<= {PAGE_TARGET_MS:g}",
            value=r["page_max_ms"],
            met=r["page_met"],
            note="HTTP GET to the last byte, uvicorn in this process",
        )
    ]
    return rows, targets
