"""One session-scoped, real nats-server for the suite (free ports, JetStream store in a temp dir).

Modelled on nats.py's tests/utils.py NATSD: the readiness check fails loudly with the
server's log, and the server is terminated then killed at the end. No broker mocks.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from samband.broker_config import Deployment
from samband.observability import configure_logging

# The suite's logs: warnings and errors only, in JSON; the CLI's entry point reads the same level
# from the environment when a test invokes a command (and so do the processes tests start).
os.environ.setdefault("SAMBAND_LOG_LEVEL", "warning")
configure_logging(level="warning", json=True)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment(tmp_path_factory.mktemp("samband-state"))
    dep.start()
    try:
        yield dep
    finally:
        dep.stop()


@pytest_asyncio.fixture(scope="session")
async def bus(deployment: Deployment) -> AsyncIterator[Deployment]:
    """The session's deployment with its streams provisioned."""
    await deployment.provision()
    yield deployment


@pytest.fixture
def fresh_deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A deployment of one's own, for tests that stop, break or reconfigure the broker."""
    dep = Deployment(tmp_path / "state")
    dep.start()
    try:
        yield dep
    finally:
        dep.stop()
