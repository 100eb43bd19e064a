"""One session-scoped, real nats-server for the suite (free ports, JetStream store in a temp dir).

Modelled on nats.py's tests/utils.py NATSD: the readiness check fails loudly with the
server's log, and the server is terminated then killed at the end. No broker mocks.

Every test's captured output (its logs) and every log file under its tmp_path (nats-server's,
the router's, an adapter's) is scanned for a personnummer in clear text when the test ends, with a
detector independent of the scrubber's pattern (`samband.testing.find_personnummer`); so is every
log file under the session's temporary root when the session ends (the session server's, and those
of deployments a package shares).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from samband.broker_config import Deployment
from samband.observability import configure_logging
from samband.testing import find_personnummer

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


@pytest.fixture(scope="session", autouse=True)
def _no_personnummer_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the session, every log file under the session's temporary root: the session
    server's, and those of deployments shared by a package, which no single test owns."""
    yield
    root = tmp_path_factory.getbasetemp()
    leaks = _leaks({f"{p.relative_to(root)}": p.read_text(errors="replace") for p in sorted(root.rglob("*.log"))})
    assert not leaks, leaks


def _leaks(texts: dict[str, str]) -> str:
    """What the personnummer detector finds in each text, one line per place ("" when clean)."""
    out = []
    for where, text in texts.items():
        found = find_personnummer(text)
        if found:
            out.append(f"{len(found)} personnummer in clear text in {where}: " + "; ".join(map(str, found[:5])))
    return "\n".join(out)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "teardown":
        return
    texts = {title.lower(): content for title, content in report.sections if title.startswith("Captured")}
    tmp = (getattr(item, "funcargs", None) or {}).get("tmp_path")
    if isinstance(tmp, Path):
        texts |= {
            f"{p.relative_to(tmp)} (a log file)": p.read_text(errors="replace") for p in sorted(tmp.rglob("*.log"))
        }
    leaks = _leaks(texts)
    if leaks:
        report.outcome = "failed"
        report.longrepr = leaks


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
