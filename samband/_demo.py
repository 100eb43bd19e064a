"""`samband demo`: the whole platform on an embedded nats-server with synthetic data."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from samband.adapters import publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER, Deployment
from samband.router import Policy

from ._platform import Platform

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    read: int = 0
    published: int = 0
    rejected: list[str] = field(default_factory=list)
    decisions: int = 0
    allowed: int = 0
    denied: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    audit_records: int = 0
    seconds: float = 0.0
    url: str = ""


def write_polisen_export(path: Path, n: int, seed: int = 2017) -> None:
    """Polisen's export with one malformed line in the middle, as real exports sometimes have."""
    records = polisen.sample(random.Random(seed), n)
    with open(path, "wb") as f:
        for i, rec in enumerate(records):
            f.write(msgspec.json.encode(rec) + b"\n")
            if i == n // 2:
                f.write(b'{"kontrollId": "PM-2017-BROKEN", "tidpunkt": \n')


async def run_demo(n: int = 200, *, timeout: float = 40.0) -> DemoResult:
    started = time.monotonic()
    result = DemoResult()
    with tempfile.TemporaryDirectory(prefix="samband-demo-") as tmp:
        root = Path(tmp)
        dep = Deployment(root / "state")
        dep.start()
        result.url = dep.url
        try:
            await dep.provision()
            platform = Platform(dep, Policy.skeleton(), root / "received")
            router = await platform.start_router()
            sink = await platform.start_sink("skatteverket")
            export = root / "polisen.jsonl"
            write_polisen_export(export, n)
            nc = await dep.connect("polisen")
            summary = await publish_records(nc, polisen, read_jsonl(export))
            await nc.close()
            result.read, result.published = summary.read, summary.published
            result.rejected = [f"{r.position}: {r.reason}" for r in summary.rejected]
            deadline = time.monotonic() + timeout
            while len(sink) < summary.published and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await platform.stop()
            s = router.stats
            result.decisions, result.allowed, result.denied = s.decisions, s.allowed, s.denied
            result.delivered = dict(s.delivered)
            result.received = {a: len(k) for a, k in platform.sinks.items()}
            rc = await dep.connect(ROUTER)
            result.audit_records = (await rc.jetstream().stream_info("AUDIT")).state.messages
            await rc.close()
        finally:
            dep.stop()
    result.seconds = time.monotonic() - started
    return result
