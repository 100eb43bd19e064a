"""Real processes for the fault tests: the router and an adapter as `samband` runs them, and reading streams back."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from samband.adapters import NativeRecord, publish_records
from samband.adapters.agencies import polisen
from samband.broker_config import Deployment
from samband.observability.bus import read_range
from samband.schemas.layout import INGEST_PREFIX, ROUTER_DURABLE, ingest_stream
from samband.testing import assert_no_personnummer

from .._support import read_until, retry_until_ready, wait_for

# The fault tests load Polisen's exports: its own ingest stream is the router's input here.
INGEST_STREAM = ingest_stream("polisen")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def samband_argv(dep: Deployment, *args: str) -> list[str]:
    return [sys.executable, "-m", "samband", "--state-dir", str(dep.state_dir), *args]


class RouterProcess:
    """The router in a process of its own, as production runs it: ``samband router run --policy DIR``."""

    def __init__(self, dep: Deployment, policy: Path, log: Path) -> None:
        self.dep, self.policy, self.log = dep, policy, log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0, ready: bytes = b"router running") -> RouterProcess:
        """Start it and wait for its line ``ready``: ``router running``, or ``standby:`` for a second
        router. A router started while a killed one still holds the lease prints ``standby:`` first
        and ``router running`` once the lease lapses: waiting for the latter covers both."""
        with open(self.log, "ab") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                samband_argv(self.dep, "router", "run", "--policy", str(self.policy)),
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env(),
            )
        read_until(self.proc, ready.decode(), timeout, f"the router (log {self.log})")
        return self

    def freeze(self) -> None:
        """SIGSTOP: the router holds still, so what it has done at the kill is what is measured now."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def wait_line(self, prefix: bytes, timeout: float = 60.0) -> None:
        """Wait for its next line containing ``prefix``: e.g. a standby's ``router running`` once it took over."""
        assert self.proc is not None
        read_until(self.proc, prefix.decode(), timeout, f"the router (log {self.log})")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last ack, as when the host loses power."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        """Kill it if it still runs (a test that failed half-way leaves no router behind)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> str:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, (
            f"router exited with {self.proc.returncode}; log: {self.log.read_text()[-2000:]}"
        )
        assert_no_personnummer(out.decode(), "the router's output")  # its log file: see tests/conftest.py
        return out.decode()


async def shorten_ack_wait(nc, seconds: float) -> None:
    """Set the router's input consumer's ack wait (an operator's setting of the consumer, kept by the
    router across restarts): the records a killed router had in flight come back after it."""
    js = nc.jetstream()
    config = (await js.consumer_info(INGEST_STREAM, ROUTER_DURABLE)).config
    config.ack_wait = seconds
    await js.add_consumer(INGEST_STREAM, config)


async def router_progress(nc) -> tuple[int, int, int]:
    """(INGEST's last sequence, the router's ack floor, messages still pending or unacked)."""
    js = nc.jetstream()
    last = (await js.stream_info(INGEST_STREAM)).state.last_seq
    info = await js.consumer_info(INGEST_STREAM, ROUTER_DURABLE)
    return last, info.ack_floor.stream_seq, info.num_pending + info.num_ack_pending


async def parked_left(nc) -> int:
    """Deliveries still parked for a recipient that refused them (the router's PARKED stream)."""
    return (await nc.jetstream().stream_info("PARKED")).state.messages


async def stored(dep: Deployment, identity: str, stream: str) -> list[bytes]:
    """Every message of ``stream`` (as ``identity``), in order, as stored."""
    nc = await dep.connect(identity)
    try:
        return await stored_in(nc, stream)
    finally:
        await nc.close()


async def stored_in(nc, stream: str) -> list[bytes]:
    js = nc.jetstream()
    state = (await retry_until_ready(lambda: js.stream_info(stream))).state
    if not state.messages:
        return []
    if stream.startswith(INGEST_PREFIX):
        # a work queue: no consumer but the router's may read it, so by sequence (routed ones are gone)
        from nats.js.errors import NotFoundError

        async def get(seq: int) -> bytes | None:
            try:
                return (await js.get_msg(stream, seq)).data
            except NotFoundError:
                return None

        out = []
        for seq in range(state.first_seq, state.last_seq + 1):
            # a cluster that just lost a node may answer 503 for a while, even after stream_info answered
            data = await retry_until_ready(lambda seq=seq: get(seq))
            if data is not None:
                out.append(data)
        return out
    return await read_range(nc, stream, state.first_seq, state.last_seq, strict=False)


async def ingested(nc) -> int:
    try:
        return (await nc.jetstream().stream_info(INGEST_STREAM)).state.messages
    except Exception:
        return -1


def duplicates(values) -> dict:
    return {k: c for k, c in Counter(values).items() if c > 1}


def numbered_controls(seed: int, n: int, tag: str) -> list[dict]:
    """``n`` of Polisen's Bacchus vehicle controls, ``kontrollId`` PM-<tag>-00000 on, to find each again."""
    natives = polisen.sample(random.Random(seed), n, operation="bacchus-2017", region="syd")
    for i, rec in enumerate(natives):
        rec["kontrollId"] = f"PM-{tag}-{i:05d}"
    return natives


async def publish_controls(dep: Deployment, natives: list[dict], position: str) -> None:
    """Polisen's adapter publishes ``natives``, every one accepted."""
    nc = await dep.connect("polisen")
    try:
        items = [NativeRecord(f"{position}:{i}", b"", rec) for i, rec in enumerate(natives)]
        assert (await publish_records(nc, polisen, items)).published == len(natives)
    finally:
        await nc.close()


async def wait_acked(watch, at_least: int, what: str) -> None:
    """Until the router's ack floor reaches ``at_least``."""

    async def acked() -> bool:
        return (await router_progress(watch))[1] >= at_least

    await wait_for(acked, 300, what=what)


async def wait_all_routed(watch, what: str, *, parked_too: bool = False) -> None:
    """Until every record in INGEST is acked and none pending (``parked_too``: and nothing parked)."""

    async def all_routed() -> bool:
        last, acked, outstanding = await router_progress(watch)
        return acked >= last and outstanding == 0 and (not parked_too or await parked_left(watch) == 0)

    await wait_for(all_routed, 300, interval=0.1, what=what)
