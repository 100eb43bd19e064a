"""`samband bench stores`: what each kind of store samband asks of the broker costs it, one by one.

A record at Operation Bacchus fan-out costs nats-server about seven times a raw JetStream
message (docs/performance.md). This measures the stores it is made of on one embedded broker,
the same payload for each: nats-server's CPU per message (from /proc, the steadier figure on a
shared machine), the client's, and the rate, each through `AckPipeline` with 256 answers in
flight as samband sends:

* a store in the publisher's own account (as the raw JetStream baseline of `samband bench`);
* a delivery: into an agency's INBOX through the service import ROUTER has of its ``in.>``, with
  a delivery's headers, answered; and the same with no answer asked (no reply subject, so no
  response mapping back through the import), counted once the INBOXes hold them;
* deliveries in bundles: `BUNDLE` copies of the record in one INBOX message through the same
  import, answered, counted per copy: the broker's side of the design docs/performance.md names
  for the Bacchus goal (one inbox message per recipient per router batch), measured, not built;
* a record into INGEST through its agency's service export (an adapter's publish);
* a ledger claim (a KV create: stored only if the key has no entry);
* the audit append's shape (bundle, leaf hashes, two views, checkpoint), one at a time, as the log
  appends it (a chain: each message stored only right after the one before it, `chain`), and as
  the one atomic batch it was until 2026-11-27, each answered once all is stored: its round trip
  against one plain store's, and the disk's own write + fsync beside it.

The latency floor of one record follows: its INGEST store, the audit append and its INBOX store
happen one after the other (the router delivers only once the append is acknowledged).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from nats.js.api import StorageType, StreamConfig

from samband.broker_config import ROUTER, Deployment
from samband.schemas.layout import INBOX_STREAM, ledger_subject

from ._base import jetstream_round_trip
from ._env import cpu_seconds, percentile, publish_windowed

__all__ = [
    "APPEND_MESSAGES",
    "Clock",
    "append_round_trip",
    "audit_commit_round_trip",
    "ensure_atomic_stream",
    "fsync_round_trip",
    "stores_bench",
    "unanswered",
]

WINDOW = 256
BUNDLE = 32  # copies per bundle: a recipient's share of a router batch under load (batches of ~250 records)
APPEND_MESSAGES = 5  # a one-record append: bundle, leaf hashes, the origin's and the recipient's views, checkpoint
_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Clock:
    """nats-server's and this process's CPU, and the wall time, over one measurement."""

    def __init__(self, broker: int | None) -> None:
        self.broker = broker

    def __enter__(self) -> Clock:
        self.b0, self.c0, self.t0 = cpu_seconds(self.broker), cpu_seconds(None), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
        b1, c1 = cpu_seconds(self.broker), cpu_seconds(None)
        self.broker_s = None if self.b0 is None or b1 is None else b1 - self.b0
        self.client_s = (c1 or 0.0) - (self.c0 or 0.0)

    def row(self, name: str, n: int, stored: int, **extra) -> dict:
        return {
            "name": name,
            "messages": n,
            "stored": stored,
            "broker_cpu_us": None if self.broker_s is None else self.broker_s / n * 1e6,
            "client_cpu_us": self.client_s / n * 1e6,
            "rate": n / self.seconds,
            **extra,
        }


async def _inbox_count(dep: Deployment, agencies: Sequence[str]) -> int:
    total = 0
    for slug in agencies:
        nc = await dep.connect(slug)
        try:
            total += (await nc.jetstream().stream_info(INBOX_STREAM)).state.messages
        finally:
            await nc.close()
    return total


async def unanswered(
    pipe, dep: Deployment, agencies: Sequence[str], items: Sequence, clock: Clock, wait: float = 60.0
) -> int:
    """``items`` sent with no reply subject; the clock stops once the INBOXes hold them all, or ``wait``
    seconds after the last was sent: how many they hold (a message nobody answers for may be lost)."""
    before = await _inbox_count(dep, agencies)
    with clock:
        for w in range(0, len(items), WINDOW):
            await pipe.send_unanswered(items[w : w + WINDOW])
        await pipe.nc.flush()
        deadline = time.monotonic() + wait
        while (stored := await _inbox_count(dep, agencies) - before) < len(items) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    return stored


def _append_items(run: str, k: int, part: bytes, how: str, after: int) -> list:
    """One append shaped like a one-record audit append: ``APPEND_MESSAGES`` messages, as the log sends them
    (``chain``, after stream seq ``after``) or as one atomic batch committed by the last (``atomic``)."""
    if how == "chain":
        from samband.observability.audit import chain

        return chain([("bench.atomic.append", part)] * APPEND_MESSAGES, f"{run}-{k}", after)
    items = []
    for i in range(1, APPEND_MESSAGES + 1):
        headers = {"Nats-Batch-Id": f"{run}-{k}", "Nats-Batch-Sequence": str(i)}
        if i == APPEND_MESSAGES:
            headers["Nats-Batch-Commit"] = "1"
        items.append(("bench.atomic.append", part, headers))
    return items


async def ensure_atomic_stream(nc) -> None:
    """The stream the append-shaped messages go to (atomic batches allowed, to compare)."""
    await nc.jetstream().add_stream(
        StreamConfig(name="BENCH_ATOMIC", subjects=["bench.atomic.>"], storage=StorageType.FILE, allow_atomic=True)
    )


async def audit_commit_round_trip(pipe, part: bytes, n: int = 200, how: str = "chain") -> dict:
    """``n`` audit-append-shaped appends through ``pipe`` one at a time (``how``: ``chain``, as the log
    appends, or ``atomic``), each waiting until all of it is stored: the append's share of a record's
    latency."""
    run = f"a{os.getpid()}-{time.monotonic_ns()}"
    after = (await pipe.nc.jetstream().stream_info("BENCH_ATOMIC")).state.last_seq
    lat: list[float] = []
    committed = 0
    for k in range(n):
        t = time.perf_counter()
        results = await pipe.publish(_append_items(run, k, part, how, after), 10)
        lat.append((time.perf_counter() - t) * 1000)
        last = results[-1]
        whole = (
            getattr(last, "count", 0) == APPEND_MESSAGES
            if how == "atomic"
            else not any(isinstance(r, BaseException) for r in results)
        )
        committed += whole
        after = getattr(last, "seq", 0) or after
    return {"batches": n, "committed": committed, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}


async def append_round_trip(dep: Deployment, payload: bytes, n: int = 200) -> dict:
    """`audit_commit_round_trip` on a connection of its own (`samband bench`'s latency floor)."""
    from samband.observability.bus import AckPipeline

    nc = await dep.connect(ROUTER)
    try:
        await ensure_atomic_stream(nc)
        pipe = AckPipeline(nc)
        out = await audit_commit_round_trip(pipe, payload * 2, n)
        await pipe.close()
    finally:
        await nc.close()
    return out


def fsync_round_trip(directory: Path, n: int = 200, size: int = 4096) -> dict:
    """``n`` appends of ``size`` bytes to a file in ``directory``, each followed by ``fsync``: the disk's floor."""
    lat: list[float] = []
    block = os.urandom(size)
    with tempfile.NamedTemporaryFile(dir=directory, prefix="fsync-") as f:
        for _ in range(n):
            t = time.perf_counter()
            f.write(block)
            f.flush()
            os.fsync(f.fileno())
            lat.append((time.perf_counter() - t) * 1000)
    return {"writes": n, "bytes": size, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}


async def stores_bench(dep: Deployment, payload: bytes, n: int, round_trips: int = 200) -> dict:
    """Every row, as builtins (see the module's docstring)."""
    from samband.observability.bus import AckPipeline

    broker = dep.server.proc.pid if dep.server and dep.server.proc else None
    recipients = sorted(dep.agencies)[:7]  # Operation Bacchus's fan-out
    origin = recipients[0]
    run = f"s{os.getpid()}-{time.monotonic_ns()}"
    nc, agency_nc = await dep.connect(ROUTER), await dep.connect(origin)
    rows: list[dict] = []
    try:
        await nc.jetstream().add_stream(
            StreamConfig(
                name="BENCH_STORES", subjects=["bench.stores.>"], storage=StorageType.FILE, duplicate_window=600.0
            )
        )
        pipe, agency_pipe = AckPipeline(nc), AckPipeline(agency_nc)

        def delivery(i: int, tag: str) -> tuple:
            headers = {"Nats-Msg-Id": f"{run}-{tag}-{i}", "Samband-Origin": origin, "traceparent": _TRACEPARENT}
            return (f"inbox.{recipients[i % len(recipients)]}.bench", payload, headers)

        def bundle(k: int) -> tuple:  # JSON lines, as the design's bundle would hold its entries
            headers = {"Nats-Msg-Id": f"{run}-b-{k}", "traceparent": _TRACEPARENT}
            return (f"inbox.{recipients[k % len(recipients)]}.bench", b"\n".join([payload] * BUNDLE), headers)

        shapes = [
            ("same", "a store in the publisher's own account (the raw baseline)", pipe,
             [("bench.stores.raw", payload, {"Nats-Msg-Id": f"{run}-raw-{i}"}) for i in range(n)]),
            ("delivery", "a delivery into an agency's INBOX through its service import, answered", pipe,
             [delivery(i, "d") for i in range(n)]),
            ("ingest", "a record into INGEST through its agency's service export, answered", agency_pipe,
             [("out.bench", payload, {"Nats-Msg-Id": f"{run}-in-{i}", "traceparent": _TRACEPARENT}) for i in range(n)]),
            ("claim", "a ledger claim (stored only if its key has no entry)", pipe,
             [(ledger_subject(f"{run}-{i}"), payload[:80], {"Nats-Expected-Last-Subject-Sequence": "0"})
              for i in range(n)]),
        ]  # fmt: skip
        for key, name, through, items in shapes:
            with Clock(broker) as clock:
                stored = await publish_windowed(through, items, WINDOW)
            rows.append(clock.row(name, n, stored, key=key))
        bundles = [bundle(k) for k in range(max(1, n // BUNDLE))]
        with Clock(broker) as clock:
            stored = await publish_windowed(pipe, bundles, WINDOW)
        name = f"deliveries in bundles of {BUNDLE}: one INBOX message through the import, answered (per copy)"
        rows.append(clock.row(name, len(bundles) * BUNDLE, stored * BUNDLE, key="bundle", copies=BUNDLE))
        clock = Clock(broker)
        stored = await unanswered(pipe, dep, recipients, [delivery(i, "u") for i in range(n)], clock)
        rows.append(clock.row("the same delivery with no answer asked", n, stored, key="delivery_unanswered"))
        await ensure_atomic_stream(nc)
        n_append = round_trips * APPEND_MESSAGES
        for how, key, name in (
            ("chain", "append", f"an audit append ({APPEND_MESSAGES} messages, chained), one at a time"),
            ("atomic", "append_atomic", "the same as one atomic batch (the log's append until 2026-11-27)"),
        ):
            with Clock(broker) as clock:
                done = await audit_commit_round_trip(pipe, payload * 2, round_trips, how)
            rows.append(clock.row(name, n_append, done["committed"] * APPEND_MESSAGES, key=key))
            if how == "chain":
                commit = done
            else:
                atomic = done
        await pipe.close()
        await agency_pipe.close()
    finally:
        await nc.close()
        await agency_nc.close()
    one = await jetstream_round_trip(dep, payload, round_trips)  # the figure `samband bench` takes
    plain = {"p50_ms": one.p50_ms, "p99_ms": one.p99_ms}
    fsync = fsync_round_trip(dep.state_dir)
    by = {r["key"]: r for r in rows}
    return {
        "payload_bytes": len(payload),
        "recipients": recipients,
        "rows": rows,
        "store_rtt": plain,
        "append_rtt": commit,
        "append_atomic_rtt": atomic,
        "fsync": fsync,
        # what a record waits for at least: its INGEST store, the audit append, its INBOX store, in turn
        "floor_p50_ms": None if one.p50_ms is None else 2 * one.p50_ms + commit["p50_ms"],
        "import_cost_us": _minus(by["delivery"], by["same"]),
        "answer_cost_us": _minus(by["delivery"], by["delivery_unanswered"]),
        "bundle_copies": BUNDLE,
    }


def _minus(a: dict, b: dict) -> float | None:
    if a["broker_cpu_us"] is None or b["broker_cpu_us"] is None:
        return None
    return a["broker_cpu_us"] - b["broker_cpu_us"]
