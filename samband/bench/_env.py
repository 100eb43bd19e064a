"""What every `samband bench` measurement shares: the embedded broker, the payload, the figures.

Ratios, not absolute figures, are the result: every run starts its own nats-server on free
ports in a temporary directory, and the baselines and samband share it and the payload.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from samband.adapters import NativeRecord
from samband.adapters.agencies import polisen
from samband.broker_config import Deployment
from samband.schemas import encode

__all__ = [
    "Figure",
    "NullExporter",
    "bench_deployment",
    "cpu_per_item",
    "cpu_seconds",
    "cpu_snapshot",
    "native_records",
    "payload",
    "percentile",
    "premade",
    "publish_windowed",
    "rss_kib",
    "span_processor",
]


class Figure(msgspec.Struct, kw_only=True):
    """One row of the table: a rate and its latency, at a stated fan-out."""

    name: str
    records: int
    seconds: float
    rate_in: float  # records (messages) per second in
    rate_out: float  # deliveries per second out (records x fan-out for samband)
    fanout: float = 1.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


class NullExporter(SpanExporter):
    """Spans go through the batch processor as in production and are counted, not sent (no collector here)."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def span_processor(exporter: SpanExporter | None = None) -> BatchSpanProcessor:
    return BatchSpanProcessor(exporter or NullExporter(), max_queue_size=65_536, max_export_batch_size=4096)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def native_records(n: int, *, run: str, seed: int = 2017, start: int = 0) -> Iterator[NativeRecord]:
    """``n`` synthetic Polisen records with unique control ids, generated lazily (1M fit in constant memory)."""
    rng = random.Random(seed)
    i = start
    while i < start + n:
        chunk = min(1000, start + n - i)
        for native in polisen.sample(rng, chunk):
            native["kontrollId"] = f"PM-{run}-{i:09d}"
            yield NativeRecord(f"bench:{i}", b"", native)
            i += 1


# Most records a throughput run makes before its clock starts (about 1.5 KiB each held); a longer run
# makes them while it runs, and its adapter CPU then includes making them.
PREMADE_MAX = 200_000


@contextlib.contextmanager
def premade(n: int, *, run: str) -> Iterator[tuple[Iterable[NativeRecord], bool]]:
    """The run's records, made before the clock starts as the baselines' payloads are (up to
    `PREMADE_MAX`), with the heap they make out of the collector's way while the run goes on.

    Making a synthetic record costs about 16 µs of the bench process's CPU, which is not an adapter's
    work (an adapter reads its agency's export); held, they are some 600,000 objects that every full
    collection of the bench process would scan again, so they are frozen (`gc.freeze`) and given back
    to the collector after the run. Yields ``(records, made_before)``.
    """
    if n > PREMADE_MAX:
        yield native_records(n, run=run), False
        return
    records = list(native_records(n, run=run))
    gc.collect()
    gc.freeze()
    try:
        yield records, True
    finally:
        del records
        gc.unfreeze()


def payload() -> bytes:
    """The bytes samband carries for one Polisen vehicle control: the baselines send exactly these."""
    native = next(native_records(1, run="payload")).value
    return encode(polisen.to_envelope(native))


@contextlib.contextmanager
def bench_deployment() -> Iterator[Deployment]:
    """A private embedded broker in a temporary directory on free ports."""
    with tempfile.TemporaryDirectory(prefix="samband-bench-") as tmp:
        dep = Deployment(Path(tmp) / "state")
        dep.start()
        try:
            yield dep
        finally:
            dep.stop()


def rss_kib(pid: int | None = None, field: str = "VmRSS") -> int | None:
    """Resident set size (``VmRSS``) or its peak (``VmHWM``) in KiB from /proc, None where there is no /proc."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None = None) -> float | None:
    """CPU time of a process (all its threads), None where there is none.

    This process's from `time.process_time`; another's from the scheduler's nanosecond count of each
    of its threads (/proc/PID/task/*/schedstat), else from /proc/PID/stat, whose clock ticks (10 ms)
    are coarser than a short run's CPU per record (a 200-record run at 55 µs each is about one tick).
    """
    if pid is None or pid == os.getpid():
        return time.process_time()
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(**pids: int | None) -> dict[str, float | None]:
    """`cpu_seconds` of each named process (``None`` pid: this one)."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_per_item(before: dict, after: dict, items: int) -> dict[str, float | None]:
    """µs of CPU per item, per named process, between two snapshots (None where a thread that ended
    between them took its count along)."""
    out: dict[str, float | None] = {}
    for k in before:
        spent = None if before[k] is None or after[k] is None else after[k] - before[k]
        out[k] = None if spent is None or spent < 0 else spent / max(items, 1) * 1e6
    return out


async def publish_windowed(pipe, items, window: int = 256) -> int:
    """``items`` through an `AckPipeline` as samband sends (a write per 16, ``window`` answers awaited
    before the next window); how many the server stored."""
    ok = 0
    for w in range(0, len(items), window):
        batch = await pipe.open()
        end = min(w + window, len(items))
        for i in range(w, end, 16):
            await pipe.send(batch, items[i : min(i + 16, end)])
        ok += sum(1 for r in await pipe.wait(batch, 60) if not isinstance(r, BaseException))
    return ok
