"""The baselines samband is measured against, on the same broker and the same payload.

* core: nats-py core publish to a subscriber (no persistence, no acks);
* JetStream: windowed ``publish_async`` (at most ``WINDOW`` acks in flight) with ``Nats-Msg-Id``;
* FastStream: an idiomatic FastStream NATS subscriber on a JetStream stream that decodes each
  message and republishes it to a second stream (PubAck awaited), from the optional ``bench`` extra.

Each message carries a distinct id in the envelope's ``id`` slot, so latency is measured per
message (send -> receive, send -> PubAck, send -> republished copy seen).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

import click
from nats.js.api import StorageType, StreamConfig

from samband.broker_config import ROUTER, Deployment

from ._env import Figure, percentile

__all__ = [
    "WINDOW",
    "core_pubsub",
    "faststream_available",
    "faststream_forward",
    "jetstream_pipeline",
    "jetstream_round_trip",
    "jetstream_windowed",
    "numbered",
]

WINDOW = 256
_ID = slice(7, 43)  # `{"id":"` then the 36-character envelope id


def numbered(base: bytes, n: int) -> list[bytes]:
    """``n`` copies of ``base`` whose envelope id is ``i`` (same length, so the same bytes on the wire)."""
    assert base[:7] == b'{"id":"', "the envelope encodes its id first"
    return [base[:7] + f"00000000-0000-7000-8000-{i:012d}".encode() + base[43:] for i in range(n)]


def _index(data: bytes) -> int:
    return int(data[_ID][-12:])


def _figure(name: str, sent: list[float], done: list[float | None], seconds: float, note: str = "") -> Figure:
    lat = [(d - s) * 1000 for s, d in zip(sent, done) if d is not None]
    n = len(lat)
    return Figure(
        name=name,
        records=n,
        seconds=seconds,
        rate_in=n / seconds,
        rate_out=n / seconds,
        p50_ms=percentile(lat, 50),
        p99_ms=percentile(lat, 99),
        note=note,
    )


QUIET = 5.0  # seconds without an arrival after which the rest count as lost


class _Arrivals:
    """When each numbered message arrived; ``done`` is set once all ``n`` have."""

    def __init__(self, n: int) -> None:
        self.n, self.count = n, 0
        self.times: list[float | None] = [None] * n
        self.done = asyncio.Event()

    async def on_msg(self, msg) -> None:
        self.times[_index(msg.data)] = time.perf_counter()
        self.count += 1
        if self.count == self.n:
            self.done.set()

    async def wait(self, timeout: float, quiet: float = QUIET) -> None:
        """Until all have arrived, none more did for ``quiet`` seconds, or ``timeout``: core NATS drops
        under load, and a message dropped never comes (once, the whole 60 s were waited for it)."""
        deadline = time.monotonic() + timeout
        seen = -1
        while self.count != seen and time.monotonic() < deadline:
            seen = self.count
            try:
                await asyncio.wait_for(self.done.wait(), min(quiet, max(0.0, deadline - time.monotonic())))
                return
            except TimeoutError:
                pass  # the figure reports how many arrived

    def last(self, default: float) -> float:
        return max((t for t in self.times if t is not None), default=default)


async def _ensure(js, name: str, subjects: list[str]) -> None:
    # Each bench run has a broker of its own, so the stream is new (and the router may not delete streams).
    await js.add_stream(StreamConfig(name=name, subjects=subjects, storage=StorageType.FILE, duplicate_window=600.0))


async def _path_open(pub, sub_nc, within: float = 10.0) -> None:
    """Wait until a core message from ``pub`` reaches ``sub_nc``: once in a full suite none of the
    timed messages arrived (at most once, core NATS says nothing of a loss), so the run starts only
    when the path is seen to carry one."""
    came = asyncio.Event()

    async def got(_msg) -> None:
        came.set()

    probe = await sub_nc.subscribe("bench.core.probe", cb=got)
    await sub_nc.flush()
    deadline = time.monotonic() + within
    while not came.is_set():
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"Expected a core message to reach the subscriber, none did within {within:g} s: "
                "the broker is not passing messages (core pub/sub baseline not measured)"
            )
        await pub.publish("bench.core.probe", b"probe")
        await pub.flush()
        try:
            await asyncio.wait_for(came.wait(), 0.1)
        except TimeoutError:
            pass
    await probe.unsubscribe()


async def core_pubsub(dep: Deployment, payloads: list[bytes]) -> Figure:
    n = len(payloads)
    pub, sub_nc = await dep.connect(ROUTER), await dep.connect(ROUTER)
    received = _Arrivals(n)
    await sub_nc.subscribe("bench.core", cb=received.on_msg, pending_msgs_limit=n + 1, pending_bytes_limit=-1)
    await sub_nc.flush()
    try:
        await _path_open(pub, sub_nc)
    except click.ClickException:
        await pub.close()
        await sub_nc.close()
        raise
    sent = [0.0] * n
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        sent[i] = time.perf_counter()
        await pub.publish("bench.core", p)
    await pub.flush()
    await received.wait(60)
    seconds = received.last(t0) - t0 if received.count else float("nan")
    await pub.close()
    await sub_nc.close()
    note = "" if received.count == n else f"{n - received.count} lost (core NATS drops under load)"
    return _figure("nats-py core pub/sub", sent, received.times, seconds, note)


async def jetstream_windowed(
    dep: Deployment,
    payloads: list[bytes],
    *,
    window: int = WINDOW,
    prefix: str = "js",
    headers: list[dict[str, str]] | None = None,
) -> Figure:
    """``headers``: each message's own (with its ``Nats-Msg-Id``), built before the clock starts;
    else ``{prefix}-{i}``."""
    n = len(payloads)
    nc = await dep.connect(ROUTER)
    js = nc.jetstream(publish_async_max_pending=window)
    await _ensure(js, "BENCH_JS", ["bench.js.>"])
    sent: list[float] = [0.0] * n
    acked: list[float | None] = [None] * n
    futs = []
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        sent[i] = time.perf_counter()
        hdr = headers[i] if headers is not None else {"Nats-Msg-Id": f"{prefix}-{i}"}
        fut = await js.publish_async("bench.js.record", p, headers=hdr)
        fut.add_done_callback(partial(_acked_at, acked, i))
        futs.append(fut)
    await asyncio.wait_for(asyncio.gather(*futs), 60)
    seconds = time.perf_counter() - t0
    await nc.close()
    return _figure(f"JetStream publish, {window} acks in flight", sent, acked, seconds)


async def jetstream_pipeline(
    dep: Deployment, payloads: list[bytes], headers: list[dict[str, str]], *, window: int = WINDOW
) -> Figure:
    """The same messages through samband's own `AckPipeline`, as the adapter sends them (a write per
    16, a window settled before the next): what the adapter's publishing costs without its
    reading, mapping and tracing. Informational, beside the nats-py baseline the target uses."""
    from samband.observability.bus import AckPipeline

    n = len(payloads)
    nc = await dep.connect(ROUTER)
    await _ensure(nc.jetstream(), "BENCH_PIPE", ["bench.pipe.>"])
    pipe = AckPipeline(nc)
    await pipe.start()
    sent: list[float] = [0.0] * n
    acked: list[float | None] = [None] * n
    t0 = time.perf_counter()
    for w in range(0, n, window):
        batch = await pipe.open()
        for i in range(w, min(w + window, n), 16):
            items = [("bench.pipe.record", payloads[j], headers[j]) for j in range(i, min(i + 16, w + window, n))]
            now = time.perf_counter()
            sent[i : i + len(items)] = [now] * len(items)
            await pipe.send(batch, items)
            await asyncio.sleep(0)
        results = await pipe.wait(batch, 60)
        now = time.perf_counter()
        for k, r in enumerate(results):
            if not isinstance(r, BaseException):
                acked[w + k] = now
    seconds = time.perf_counter() - t0
    await pipe.close()
    await nc.close()
    return _figure(f"JetStream publish via samband's AckPipeline, {window} in flight", sent, acked, seconds)


async def jetstream_round_trip(dep: Deployment, payload: bytes, n: int = 300) -> Figure:
    """One publish at a time, each waiting for its PubAck: the broker's floor for one acknowledged store.

    An adapter -> inbox delivery needs three of them in sequence (INGEST, then AUDIT, then the
    recipient's INBOX: the router delivers only after the audit append is acknowledged), so
    the latency target is judged against this.
    """
    nc = await dep.connect(ROUTER)
    js = nc.jetstream()
    await _ensure(js, "BENCH_RTT", ["bench.rtt.>"])
    sent: list[float] = [0.0] * n
    acked: list[float | None] = [None] * n
    t0 = time.perf_counter()
    for i in range(n):
        sent[i] = time.perf_counter()
        await js.publish("bench.rtt.record", payload, headers={"Nats-Msg-Id": f"rtt-{i}"})
        acked[i] = time.perf_counter()
    seconds = time.perf_counter() - t0
    await nc.close()
    return _figure("JetStream publish, one at a time (ack RTT)", sent, acked, seconds)


def _acked_at(acked: list[float | None], i: int, _future: object) -> None:
    acked[i] = time.perf_counter()


def faststream_available() -> bool:
    try:
        import faststream.nats  # noqa: F401
    except ImportError:
        return False
    return True


async def faststream_forward(dep: Deployment, payloads: list[bytes]) -> Figure:
    """FastStream subscriber (JetStream durable) that decodes JSON and republishes it, PubAck awaited."""
    from faststream.nats import JStream, NatsBroker, PullSub

    n = len(payloads)
    nc = await dep.connect(ROUTER)
    js = nc.jetstream(publish_async_max_pending=WINDOW)
    await _ensure(js, "BENCH_FS_IN", ["bench.fs.in"])
    await _ensure(js, "BENCH_FS_OUT", ["bench.fs.out"])

    broker = NatsBroker(dep.url, nkeys_seed=str(dep.seed(ROUTER)), graceful_timeout=5, logger=None)
    out = broker.publisher("bench.fs.out", stream=JStream("BENCH_FS_OUT", declare=False))

    @broker.subscriber(
        "bench.fs.in",
        stream=JStream("BENCH_FS_IN", declare=False),
        durable="faststream-bench",
        pull_sub=PullSub(batch_size=WINDOW),
    )
    async def forward(body: dict) -> None:
        await out.publish(body)

    seen = _Arrivals(n)
    await nc.subscribe("bench.fs.out", cb=seen.on_msg, pending_msgs_limit=n + 1, pending_bytes_limit=-1)
    await broker.start()
    sent = [0.0] * n
    t0 = time.perf_counter()
    futs = []
    for i, p in enumerate(payloads):
        sent[i] = time.perf_counter()
        futs.append(await js.publish_async("bench.fs.in", p, headers={"Nats-Msg-Id": f"fs-{i}"}))
    await asyncio.gather(*futs)
    await seen.wait(120)
    seconds = seen.last(t0) - t0
    await broker.stop()
    await nc.close()
    note = "" if seen.count == n else f"only {seen.count} of {n} forwarded (none more within {QUIET:g} s)"
    return _figure("FastStream decode + republish", sent, seen.times, seconds, note)
