"""The latency baseline: the same offer through a bare relay doing three acknowledged stores in turn.

A record on samband's path is stored three times in turn, each acknowledged before the next
starts: its INGEST copy, the audit append, its inbox copy; and it crosses three processes (the
adapter, the router, the recipient's stream in nats-server). The relay does the same with none
of samband's work: the bench process publishes each message into ``BENCH_RELAY_IN`` when it is
due; a process of its own (``python -m samband.bench._relay STATE_DIR``) pulls it through
nats-py's public pull consumer, stores a 64-byte note of it in ``BENCH_RELAY_LOG`` and waits for
the answer, then republishes it into ``BENCH_RELAY_OUT`` and waits again, then acknowledges it.
A message's latency is its ``BENCH_RELAY_OUT`` copy's stored time minus the time it was sent, the
same clocks samband's latency run reads. What this machine gives a three-store path at the
offered rate, wakeups and scheduling included, is then in the same run as samband's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path

from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from samband.broker_config import ROUTER, Deployment

from ._base import _ensure, _index, numbered
from ._child import BenchProcess
from ._env import Figure, percentile

__all__ = ["relay_at_rate"]

_STREAMS = (
    ("BENCH_RELAY_IN", "bench.relay.in"),
    ("BENCH_RELAY_LOG", "bench.relay.log"),
    ("BENCH_RELAY_OUT", "bench.relay.out"),
)
NOTE_BYTES = 64  # about what one decision's entry adds to an audit bundle


async def relay_at_rate(dep: Deployment, payload: bytes, rate: int, seconds: float) -> Figure:
    """Offer ``rate`` messages/s for ``seconds``, each when it is due, through the relay process."""
    nc = await dep.connect(ROUTER)
    js = nc.jetstream(publish_async_max_pending=256)
    for name, subject in _STREAMS:
        await _ensure(js, name, [subject])
    n = max(1, int(rate * seconds))
    payloads = numbered(payload, n)
    sent = [0.0] * n
    async with BenchProcess("samband.bench._relay", str(dep.state_dir), what="relay"):
        loop = asyncio.get_running_loop()
        start = loop.time()
        acks = []
        for i, p in enumerate(payloads):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.time()
            acks.append(await js.publish_async("bench.relay.in", p, headers={"Nats-Msg-Id": f"relay-{i}"}))
        await asyncio.wait_for(asyncio.gather(*acks), 60)
        offered = loop.time() - start
        lat = await _relayed(js, sent, timeout=30)
    await nc.close()
    note = "" if len(lat) == n else f"only {len(lat)} of {n} relayed within 30 s"
    return Figure(
        name=f"relay at {rate}/s offered: 3 acknowledged stores in turn, 3 processes",
        records=len(lat),
        seconds=offered,
        rate_in=n / offered if offered else 0.0,
        rate_out=len(lat) / offered if offered else 0.0,
        p50_ms=percentile(lat, 50),
        p99_ms=percentile(lat, 99),
        note=note,
    )


async def _relayed(js, sent: list[float], *, timeout: float) -> list[float]:
    """The latency of each message whose copy reached ``BENCH_RELAY_OUT`` within ``timeout``."""
    n = len(sent)
    deadline = time.monotonic() + timeout
    while (await js.stream_info("BENCH_RELAY_OUT")).state.messages < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    count = (await js.stream_info("BENCH_RELAY_OUT")).state.messages
    sub = await js.subscribe(
        "bench.relay.out",
        stream="BENCH_RELAY_OUT",
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        config=ConsumerConfig(),
    )
    lat = []
    for _ in range(count):
        msg = await sub.next_msg(timeout=10)
        lat.append((msg.metadata.timestamp.timestamp() - sent[_index(msg.data)]) * 1000)
    await sub.unsubscribe()
    return lat


async def _relay(state_dir: Path) -> None:
    dep = Deployment.load(state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    nc = await dep.connect(ROUTER)
    js = nc.jetstream(publish_async_max_pending=1024)
    sub = await js.pull_subscribe("bench.relay.in", durable="relay", stream="BENCH_RELAY_IN")
    print("ready", flush=True)
    while not stop.is_set():
        try:
            msgs = await sub.fetch(256, timeout=0.5)
        except (TimeoutError, FetchTimeoutError):
            continue
        notes = [await js.publish_async("bench.relay.log", m.data[:NOTE_BYTES]) for m in msgs]
        await asyncio.gather(*notes)
        copies = [await js.publish_async("bench.relay.out", m.data) for m in msgs]
        await asyncio.gather(*copies)
        for m in msgs:
            await m.ack()
    await nc.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m samband.bench._relay")
    ap.add_argument("state_dir", type=Path)
    args = ap.parse_args(argv)
    asyncio.run(_relay(args.state_dir))


if __name__ == "__main__":
    main()
