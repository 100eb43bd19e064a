"""One deployment of its own for the hostile agencies' tests: the router routes two honest flows
(Polisen to Skatteverket and Migrationsverket, Tullverket to Kronofogden) at a steady rate the whole
time, while Kustbevakningen (a sender) and Migrationsverket (a recipient) misbehave with their own
credentials, each within the small limits its agency file gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec
import pytest
import pytest_asyncio

from samband._platform import Platform
from samband.broker_config import AgencyLimits, Deployment, builtin_agencies
from samband.observability import settle_heap
from samband.router import Router

from .._support import wait_for
from ._arena import SteadyTraffic, arena_policy

KiB, MiB = 1024, 1024**2

# Kustbevakningen may keep 4 MiB waiting for the router, send records of at most 128 KiB (headers
# included) and messages of at most 256 KiB, over at most 4 connections; Migrationsverket's account
# stores at most 16 MiB (its INBOX and DEADLETTER together).
HOSTILE_LIMITS = {
    "kustbevakningen": AgencyLimits(
        ingest_bytes=4 * MiB, ingest_messages=100_000, record_bytes=128 * KiB, payload_bytes=256 * KiB, connections=4
    ),
    "migrationsverket": AgencyLimits(storage_bytes=16 * MiB),
}


@dataclass
class Arena:
    dep: Deployment
    platform: Platform
    router: Router
    traffic: SteadyTraffic
    bound_ms: float = 0.0  # the honest records' p99 may not exceed this while an agency misbehaves
    notes: list[str] = field(default_factory=list)


@pytest_asyncio.fixture(scope="module")
async def arena(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Arena]:
    root = tmp_path_factory.mktemp("arena")
    agencies = builtin_agencies()
    for slug, limits in HOSTILE_LIMITS.items():
        agencies[slug] = msgspec.structs.replace(agencies[slug], limits=limits)
    dep = Deployment(root / "state", agencies=agencies.values())
    dep.start()
    platform = None
    traffic = SteadyTraffic(dep)
    try:
        await dep.provision()
        platform = Platform(dep, arena_policy(), root / "received")
        router = await platform.start_router()
        settle_heap()  # as the router's own processes do (`samband up`, `samband router run`)
        await traffic.start()
        await wait_for(lambda: len(traffic.stored) >= 20, timeout=20)
        yield Arena(dep, platform, router, traffic)
    finally:
        await traffic.stop()
        if platform is not None:
            await platform.stop()
        dep.stop()
