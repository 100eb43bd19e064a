"""A deployment with a trail for the console's tests, and a real headless Chromium to look at it.

The platform runs as a user runs it (`samband up` in its own process); Polisen's adapter sends a
synthetic export (one line malformed: a dead letter), Tullverket's writes what it received (its
receipts), Tullverket's witness cosigns. The browser is Debian's chromium driven through its
chromedriver by Selenium: nothing is downloaded at run time; without them the tests are skipped
with the reason (`make test` prints it in its summary).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from samband.broker_config import free_port

from .._support import keep_reading, publish_figures, samband_process, stop_read_process

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
    "--force-device-scale-factor=1",
]
# Screenshots go to a throwaway folder so `make test` leaves the tree clean; `make screenshots`
# points SAMBAND_SCREENSHOTS at docs/console to refresh the pictures the docs show.
SCREENSHOTS = Path(os.environ.get("SAMBAND_SCREENSHOTS") or tempfile.gettempdir() + "/samband-console-shots")


@dataclass
class Trail:
    state: Path
    personnummer: str  # one in the export (a driver), never typed anywhere but the search field
    root: Path
    up: subprocess.Popen | None = None  # `samband up`: broker and router
    said: list[str] = field(default_factory=list)  # what `samband up` printed so far

    def tail(self, n: int = 40) -> str:
        """The platform's last lines, for a failure message."""
        return "".join(self.said[-n:])

    def stop_platform(self) -> None:
        """Stop the broker and the router (the test's own trail only)."""
        assert self.up is not None
        self.up.send_signal(signal.SIGTERM)
        self.up.wait(timeout=60)


def _run(state: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "samband", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@contextlib.contextmanager
def _trail(root: Path, *, outcomes: bool = True) -> Iterator[Trail]:
    state = root / "state"
    up, lines = samband_process(
        state, "up", "--port", str(free_port()), "--http-port", str(free_port()), ready="router running", timeout=60
    )
    reader = keep_reading(up, lines)
    try:
        export = root / "exports"
        _run(state, "adapter", "sample", "polisen", "30", str(export))
        source = export / "polisen.jsonl"
        with source.open("a") as f:
            f.write('{"kontrollId": "PM-broken", \n')
        _run(state, "adapter", "run", "polisen", "--source", str(source), "--once", "--no-inbox")
        _run(state, "adapter", "run", "tullverket", "--sink", str(root / "received"), "--once")
        _run(state, "witness", "tullverket", "--once")
        if outcomes:
            asyncio.run(_outcomes(state, root / "figures"))
        first = source.read_text().splitlines()[0]
        pnr = re.search(r'"personnummer":"([0-9-]+)"', first).group(1)  # type: ignore[union-attr]
        yield Trail(state, pnr, root, up, lines)
    finally:
        if up.poll() is None:
            stop_read_process(up, lines, reader)


@pytest.fixture(scope="package")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trail]:
    with _trail(tmp_path_factory.mktemp("console")) as t:
        yield t


@pytest.fixture
def own_trail(tmp_path: Path) -> Iterator[Trail]:
    """A trail of the test's own, for a test that breaks it."""
    with _trail(tmp_path, outcomes=False) as t:
        yield t


async def _outcomes(state: Path, out: Path) -> None:
    """Operation Bacchus's results (seed 000), sent by the agencies' adapters: Ruc Syd receives them."""
    from samband.broker_config import Deployment

    await publish_figures(Deployment.load(state), "bacchus-2017", out, n=2)


@dataclass
class Console:
    url: str  # the sign-in link it printed
    base: str
    proc: subprocess.Popen
    lines: list[str]


@pytest.fixture
def start_console() -> Iterator[Callable[..., Console]]:
    started: list[tuple] = []

    def start(trail: Trail, identity: str, *extra: str) -> Console:
        proc, lines = samband_process(
            trail.state, "console", "--as", identity, "--port", "0", *extra, ready="/login?token=", timeout=60
        )
        url = re.search(r"http://\S+/login\?token=\S+", "".join(lines)).group(0)  # type: ignore[union-attr]
        reader = keep_reading(proc, lines)
        started.append((proc, lines, reader))
        return Console(url, url.split("/login")[0], proc, lines)

    yield start
    for proc, lines, reader in started:
        if proc.poll() is None:
            stop_read_process(proc, lines, reader)


@pytest.fixture
def browser() -> Iterator:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            "the console's browser tests need Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="samband-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
