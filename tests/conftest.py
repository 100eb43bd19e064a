"""One session-scoped, real nats-server for the suite (free ports, JetStream store in a temp dir).

Modelled on nats.py's tests/utils.py NATSD: the readiness check fails loudly with the
server's log, and the server is terminated then killed at the end. No broker mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from samband.broker_config import Deployment
from samband.observability import configure_logging

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


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true; fail with a clear message after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {getattr(predicate, '__doc__', None) or predicate}")
        await asyncio.sleep(interval)


async def retry_until_ready(make, timeout: float = 30.0):
    """Call ``make()`` until JetStream answers: a fresh cluster first elects its meta leader (and,
    after a node is killed, a new stream leader). Fails with the last error after ``timeout``."""
    import time

    import nats
    from nats.js.errors import Error as JsError

    from samband.broker_config import BrokerConfigError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return await make()
        except (BrokerConfigError, JsError, nats.errors.Error, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)
