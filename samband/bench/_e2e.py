"""samband end to end: adapter publish -> router decision -> audit append -> delivery into the inbox.

The adapter (Polisen's mapping and ``publish_records``) runs in this process; the router runs
as a process of its own (``samband.bench._router``), so its memory is measured alone. A
record's latency is the time its copy was stored in the recipient's INBOX stream (the
inbox PubAck) minus the envelope's ``produced_at``, which the adapter sets just before its
publish: both come from the record itself, not from the load generator's bookkeeping.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from samband.adapters import IDLE, Idle, NativeRecord, publish_records
from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER, Deployment

from ._bundles import copies
from ._child import BenchProcess
from ._env import Figure, cpu_per_item, cpu_snapshot, native_records, percentile, premade, rss_kib

__all__ = ["E2E", "RouterProcess", "install_sampler", "set_adapter_sampling"]

# Inbox copies read back per recipient to compute latency (the newest ones); enough for a stable p99.
LATENCY_SAMPLE = 50_000


class _Stamp(msgspec.Struct):
    produced_at: _dt.datetime


_STAMP = msgspec.json.Decoder(_Stamp)


class SwitchableSampler(Sampler):
    """Tracers keep the sampler they were made with; this one lets the bench change the ratio between runs."""

    def __init__(self, ratio: float = 1.0) -> None:
        self.inner: Sampler = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(self, *args, **kwargs):
        return self.inner.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return f"Switchable({self.inner.get_description()})"


_SAMPLER = SwitchableSampler()


def install_sampler() -> None:
    """Call right after ``configure_tracing``, before any span: the bench process's tracers use ``_SAMPLER``."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "sampler"):
        provider.sampler = _SAMPLER


def set_adapter_sampling(ratio: float) -> None:
    """The adapter is the root of every trace: its parent-based ratio sampler decides for the router too."""
    _SAMPLER.inner = ParentBased(TraceIdRatioBased(ratio))


class RouterProcess(BenchProcess):
    """``python -m samband.bench._router`` on the deployment; RSS sampled from /proc while it runs."""

    def __init__(
        self,
        dep: Deployment,
        policy: str,
        sample: float,
        *,
        audit: bool = True,
        bundle: bool = False,
        profile: Path | None = None,
    ) -> None:
        args = [str(dep.state_dir), "--policy", policy, "--sample", str(sample)]
        args += [] if audit else ["--no-audit"]
        args += ["--bundle"] if bundle else []
        args += [] if profile is None else ["--profile", str(profile)]
        super().__init__("samband.bench._router", *args, what="router")
        self.rss: list[tuple[int, int]] = []  # (records acked so far, VmRSS KiB)
        self.stats: dict = {}

    async def __aenter__(self) -> RouterProcess:
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await super().__aexit__(*exc)
        lines = self.output.decode().strip().splitlines()
        if lines:
            try:
                self.stats = msgspec.json.decode(lines[-1])
            except msgspec.DecodeError:
                self.stats = {"error": self.errors.decode(errors="replace")[-2000:]}


class E2E:
    """Runs samband scenarios one after another on one deployment and reads the inboxes back."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.inbox_seq: dict[str, int] = {}  # last INBOX sequence already read, per recipient
        self.runs = 0
        self.finished = False
        self.cpu: tuple[dict, dict, int] = ({}, {}, 0)

    async def _router_progress(self, js) -> tuple[int, int]:
        """(records acked by the router, records still pending or unacked)."""
        try:
            info = await js.consumer_info("INGEST_polisen", "router")
        except NotFoundError:  # the router process has not made its durable consumer yet
            return 0, 1
        return info.ack_floor.stream_seq, info.num_pending + info.num_ack_pending

    async def _drive(self, publish, router: RouterProcess, timeout: float) -> tuple[float, Any]:
        rc = await self.dep.connect(ROUTER)
        js = rc.jetstream()
        # Start from an idle router: a previous run's backlog must not count against this one.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (await self._router_progress(js))[1] > 0:
            await asyncio.sleep(0.05)
        start_seq = (await js.stream_info("INGEST_polisen")).state.last_seq
        broker = getattr(getattr(self.dep, "server", None), "proc", None)
        pids = {"adapter": None, "router": router.pid, "broker": broker.pid if broker else None}
        cpu0 = cpu_snapshot(**pids)
        t0 = time.time()
        done = asyncio.Event()

        async def sample_rss() -> None:
            while not done.is_set():
                kib = rss_kib(router.pid)
                if kib:
                    acked, _ = await self._router_progress(js)
                    router.rss.append((acked - start_seq, kib))
                try:
                    await asyncio.wait_for(done.wait(), 0.5)
                except TimeoutError:
                    pass

        sampler = asyncio.create_task(sample_rss())
        summary = await publish()
        last_seq = (await js.stream_info("INGEST_polisen")).state.last_seq
        self.finished = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            acked, outstanding = await self._router_progress(js)
            if acked >= last_seq and outstanding == 0:
                self.finished = True
                break
            await asyncio.sleep(0.02)
        cpu1 = cpu_snapshot(**pids)
        done.set()
        await sampler
        await rc.close()
        self.cpu = (cpu0, cpu1, last_seq - start_seq)
        return t0, summary

    async def _read_inboxes(
        self, recipients: Iterable[str], since: float | None = None, *, bundled: bool = False
    ) -> tuple[list[float], int, float]:
        """Latencies (ms), copies found, and the wall time the last copy was stored. ``since``: only the
        copies of records produced at or after this wall time count (all are read). ``bundled``: each
        message holds copies as lines (`_bundles`), all are read and each line counts."""
        if bundled and since is None:
            since = 0.0  # every message read, every copy counted
        lat: list[float] = []
        found, last = 0, 0.0
        for agency in recipients:
            nc = await self.dep.connect(agency)
            js = nc.jetstream()
            info = await js.stream_info("INBOX")
            first = self.inbox_seq.get(agency, 0) + 1
            end = info.state.last_seq
            found += max(0, end - first + 1) if since is None else 0
            start = max(first, end - LATENCY_SAMPLE + 1) if since is None else first
            if end >= start:
                sub = await js.subscribe(
                    "in.>",
                    stream="INBOX",
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    config=ConsumerConfig(opt_start_seq=start),
                )
                for _ in range(end - start + 1):
                    msg = await sub.next_msg(timeout=10)
                    stored = msg.metadata.timestamp.timestamp()
                    for copy in copies(msg.data) if bundled else (msg.data,):
                        produced = _STAMP.decode(copy).produced_at.timestamp()
                        if since is not None:
                            if produced < since:
                                continue
                            found += 1
                        lat.append((stored - produced) * 1000)
                        last = max(last, stored)
                await sub.unsubscribe()
            self.inbox_seq[agency] = end
            await nc.close()
        return lat, found, last

    async def throughput(
        self,
        n: int,
        *,
        policy: str = "skeleton",
        sample: float = 1.0,
        name: str,
        audit: bool = True,
        bundle: bool = False,
        profile: Path | None = None,
    ) -> tuple[Figure, dict]:
        self.runs += 1
        run = f"r{os.getpid()}-{self.runs}"
        set_adapter_sampling(sample)
        with premade(n, run=run) as (records, made_before):
            async with RouterProcess(self.dep, policy, sample, audit=audit, bundle=bundle, profile=profile) as router:
                nc = await self.dep.connect("polisen")
                t_pub: list[float] = []

                async def publish():
                    t = time.perf_counter()
                    s = await publish_records(nc, polisen, records)
                    t_pub.append(time.perf_counter() - t)
                    return s

                t0, summary = await self._drive(publish, router, timeout=max(120.0, n / 10))
                await nc.close()
        stats = router.stats
        lat, found, last = await self._read_inboxes(stats.get("delivered", {}), bundled=bundle)
        seconds = max(last - t0, 1e-9)
        fig = Figure(
            name=name,
            records=summary.published,
            seconds=seconds,
            rate_in=summary.published / seconds,
            rate_out=found / seconds,
            fanout=found / max(summary.published, 1),
            p50_ms=percentile(lat, 50),
            p99_ms=percentile(lat, 99),
        )
        detail = {
            "adapter_publish_seconds": t_pub[0] if t_pub else None,
            "router": stats,
            "router_rss_kib": router.rss,
            "deliveries": found,
            "records_made": "before the clock" if made_before else "while the run went on",
            # the bench process is the adapter (and its polling of the router's progress)
            "cpu_us_per_record": cpu_per_item(*self.cpu),
        }
        if not self.finished:
            fig.note = f"not finished within {max(120.0, n / 10):.0f} s: "
        if not self.finished or (audit and stats.get("audited", 0) < found):
            fig.note += f"{found} deliveries, {stats.get('audited')} audit records for {summary.published} records"
        return fig, detail

    async def at_rate(
        self, rate: int, seconds: float, *, offer: str = "even", policy: str = "skeleton", sample: float = 1.0
    ) -> tuple[Figure, dict]:
        """Offer ``rate`` records/s for ``seconds`` through the adapter and read the latencies.

        ``offer="even"``: each record when it is due, as an adapter following a live source reads
        them: one `publish_records` run whose source yields `IDLE` whenever the next record is not
        due yet, so what the adapter holds is published at once. ``"chunks"``: ten records every
        10 ms, a `publish_records` call each (so a chunk's first record waits for the other nine to
        be mapped, and the router gets them as one batch).
        """
        if offer not in OFFERS:
            raise ValueError(f"Expected an offer in {sorted(OFFERS)}, got {offer!r}")
        self.runs += 1
        run = f"r{os.getpid()}-{self.runs}"
        set_adapter_sampling(sample)
        total, warm = int(rate * seconds), max(1, int(rate * WARM_UP_S))
        async with RouterProcess(self.dep, policy, sample) as router:
            nc = await self.dep.connect("polisen")
            # Not counted: a router's first records meet its cold caches and first appends; a service
            # that runs for months is measured after them.
            await _offer(nc, native_records(warm, run=f"{run}-warm-up"), rate, warm, offer)
            since = time.time()
            records = native_records(total, run=run)

            async def publish():
                loop = asyncio.get_running_loop()
                start = loop.time()
                published = await _offer(nc, records, rate, total, offer)
                return published, loop.time() - start

            _t0, (published, offered_s) = await self._drive(publish, router, timeout=120.0)
            await nc.close()
        lat, found, _ = await self._read_inboxes(router.stats.get("delivered", {}), since=since)
        shape = "each when due" if offer == "even" else "ten every 10 ms"
        fig = Figure(
            name=f"samband at {rate}/s offered ({shape}), {seconds:g} s",
            records=published,
            seconds=offered_s,
            rate_in=published / offered_s,
            rate_out=found / offered_s,
            fanout=found / max(published, 1),
            p50_ms=percentile(lat, 50),
            p99_ms=percentile(lat, 99),
        )
        return fig, {"router": router.stats, "offered_seconds": offered_s, "offer": offer, "warm_up_records": warm}


OFFERS = frozenset({"even", "chunks"})
WARM_UP_S = 0.5  # seconds offered before a latency run's clock starts, at its rate and in its shape


async def _offer(nc, records: Iterator[NativeRecord], rate: int, total: int, offer: str) -> int:
    """``total`` records at ``rate``/s in the offer's shape; how many were published."""
    if offer == "even":
        return (await publish_records(nc, polisen, _due(records, rate))).published
    return await _chunks(nc, records, rate, total)


async def _due(records: Iterable[NativeRecord], rate: int) -> AsyncIterator[NativeRecord | Idle]:
    """Each record when it is due at ``rate``/s; `IDLE` before a wait, as a followed source says it has
    read everything there is for now."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, record in enumerate(records):
        wait = start + i / rate - loop.time()
        if wait > 0:
            yield IDLE
            await asyncio.sleep(wait)
        yield record


async def _chunks(nc, records: Iterator[NativeRecord], rate: int, total: int) -> int:
    """Ten records (``rate`` / 100) every 10 ms, each chunk published and settled on its own."""
    loop = asyncio.get_running_loop()
    per_tick = max(1, round(rate * 0.01))
    tick = per_tick / rate
    start = loop.time()
    sent = published = 0
    while sent < total:
        chunk = [next(records) for _ in range(min(per_tick, total - sent))]
        published += (await publish_records(nc, polisen, chunk)).published
        sent += len(chunk)
        delay = start + (sent / per_tick) * tick - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    return published
