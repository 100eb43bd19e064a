"""One deployment for the follow-up's tests: the shipped policy's router, and the seeds' figures sent through it.

Region Mitt's 2020 results and Operation Bacchus's are published by the agencies' adapters (their own
exports with derived outcomes, and their outcome exports) with their own credentials, and routed to
the Ruc and the national follow-up before any test runs. The deployment is the package's own, so the
centres' inboxes hold exactly these outcomes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from samband._platform import Platform
from samband.broker_config import Deployment
from samband.router import LivePolicy, Router

from .._support import SHIPPED, publish_figures, wait_for


@dataclass
class FollowUp:
    dep: Deployment
    router: Router


@pytest_asyncio.fixture(scope="package")
async def follow_up(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FollowUp]:
    root = tmp_path_factory.mktemp("follow-up")
    dep = Deployment(root / "state")
    dep.start()
    platform = None
    try:
        await dep.provision()
        platform = Platform(dep, LivePolicy(SHIPPED), root / "received")
        router = await platform.start_router()
        sent = 0
        for figures in ("mitt-2020", "bacchus-2017"):
            sent += await publish_figures(dep, figures, root / "exports" / figures)
        s = router.stats

        def routed() -> bool:
            """the router has decided on every published message and delivered every allow"""
            return s.records >= sent and sum(s.delivered.values()) >= s.allowed

        await wait_for(routed, timeout=60)
        yield FollowUp(dep, router)
    finally:
        if platform is not None:
            await platform.stop()
        dep.stop()
