"""One session-scoped, real nats-server for the suite (free ports, JetStream store in a temp dir).

Modelled on nats.py's tests/utils.py NATSD: the readiness check fails loudly with the
server's log, and the server is terminated then killed at the end. No broker mocks.
"""

from __future__ import annotations

import asyncio
import random
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


async def scratch_stream(bus: Deployment, name: str, root: str):
    """A memory stream ``name`` on ``<root>.>`` in the router's account, for one test module, and a
    connection to it (idempotent: the router may not delete streams, so tests use subjects of their own)."""
    from nats.js.api import StorageType, StreamConfig

    from samband.broker_config import ROUTER

    nc = await bus.connect(ROUTER)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{root}.>"], storage=StorageType.MEMORY))
    return nc, js


def fresh_subject(root: str) -> str:
    """A subject prefix under ``root`` no other test uses."""
    return f"{root}.{random.getrandbits(40):x}"


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true; fail with a clear message after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"condition not met within {timeout}s: {getattr(predicate, '__doc__', None) or predicate}"
            )
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
        except (TimeoutError, BrokerConfigError, JsError, nats.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


def samband_process(state_dir: Path, *args: str, ready: str, env: dict | None = None, timeout: float = 30.0):
    """Start ``samband --state-dir STATE ARGS...`` as its own process and read its output until a line
    contains ``ready``; fails with everything it printed if it exits or stays silent. Returns
    (process, lines so far); stop it with ``stop_samband_process``."""
    import os
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "samband", "--state-dir", str(state_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"COLUMNS": "200"} | (env or {}),
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if ready in line or proc.poll() is not None:
            break
    if not any(ready in ln for ln in lines):
        proc.kill()
        raise AssertionError(f"`samband {' '.join(args)}` never printed {ready!r}:\n" + "".join(lines))
    return proc, lines


def stop_samband_process(proc, lines: list[str]) -> str:
    """SIGTERM, then the rest of its output; fails unless it exits 0."""
    import signal

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    return out
