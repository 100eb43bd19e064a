"""Real processes for the fault tests: the router on its own, an adapter run, and reading streams back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from nats.js.api import DeliverPolicy

from samband.broker_config import ROUTER, Deployment

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


class RouterProcess:
    """The router in a process of its own: ``samband router run --policy DIR`` (the production entry
    point) for a policy directory, the bench's launcher of the platform's router for ``skeleton``."""

    def __init__(self, dep: Deployment, policy: str | Path = "skeleton", log: Path | None = None) -> None:
        self.dep, self.policy = dep, policy
        self.log = log or dep.state_dir / "router.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0, ready: bytes | None = None) -> RouterProcess:
        """Start it and read its first line: ``router running`` (or ``ready``, e.g. ``standby:``)."""
        if self.policy == "skeleton":
            cmd, ready = ["-m", "samband.bench._router", str(self.dep.state_dir), "--policy", "skeleton"], b"ready"
        else:
            cmd = [
                "-m",
                "samband",
                "--state-dir",
                str(self.dep.state_dir),
                "router",
                "run",
                "--policy",
                str(self.policy),
            ]
            ready = ready or b"router running"
        with open(self.log, "ab") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, *cmd], stdout=subprocess.PIPE, stderr=stderr, env={**_env(), "COLUMNS": "200"}
            )
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        if line.startswith(b"standby:") and ready != b"standby:":
            # the router before it was killed still holds the lease until it lapses: it takes over then
            line = self.proc.stdout.readline()
        if not line.startswith(ready) or time.monotonic() > deadline:
            raise AssertionError(f"router process did not start: {line!r}; log: {self.log.read_text()[-2000:]}")
        return self

    def wait_line(self, prefix: bytes) -> bytes:
        """The next line it prints (blocking): e.g. a standby's ``router running`` once it took over."""
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(prefix):
            raise AssertionError(
                f"Expected a line starting {prefix!r}, got {line!r}; log: {self.log.read_text()[-2000:]}"
            )
        return line

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last ack, as when the host loses power."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> dict:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, (
            f"router exited with {self.proc.returncode}; log: {self.log.read_text()[-2000:]}"
        )
        return out.decode()


def samband(dep: Deployment, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run the ``samband`` CLI against ``dep`` as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "samband", "--state-dir", str(dep.state_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


async def router_progress(dep: Deployment) -> tuple[int, int, int]:
    """(INGEST's last sequence, the router's ack floor, messages still pending or unacked)."""
    nc = await dep.connect(ROUTER)
    try:
        js = nc.jetstream()
        last = (await js.stream_info("INGEST")).state.last_seq
        try:
            info = await js.consumer_info("INGEST", "router")
        except Exception:
            return last, 0, last
        return last, info.ack_floor.stream_seq, info.num_pending + info.num_ack_pending
    finally:
        await nc.close()


async def wait_until(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(interval)


async def read_stream(dep: Deployment, identity: str, stream: str, subject: str) -> list:
    """Every message of ``stream`` (as ``identity``), in order, through an ordered consumer."""
    nc = await dep.connect(identity)
    try:
        js = nc.jetstream()
        n = (await js.stream_info(stream)).state.messages
        out = []
        if n:
            sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
            for _ in range(n):
                out.append(await sub.next_msg(timeout=10))
            await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def duplicates(values) -> dict:
    return {k: c for k, c in Counter(values).items() if c > 1}
