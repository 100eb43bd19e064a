"""The nats-server is killed and restarted while an adapter loads a file: it resumes, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess

import msgspec
import pytest

from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER
from samband.testing import assert_no_personnummer

from .._support import wait_for
from ._procs import duplicates, env, ingested, samband_argv, stored

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]

N = 20_000


class _Control(msgspec.Struct):
    record: dict


async def test_an_adapter_resumes_its_file_after_the_broker_restarts_and_nothing_is_lost_or_doubled(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    export = tmp_path / "polisen.jsonl"
    natives = polisen.sample(random.Random(4711), N, operation="bacchus-2017", region="syd")
    with open(export, "wb") as f:
        for i, n in enumerate(natives):
            n["kontrollId"] = f"PM-RESTART-{i:05d}"
            f.write(msgspec.json.encode(n) + b"\n")

    argv = samband_argv(dep, "adapter", "run", "polisen", "--source", str(export), "--once")
    adapter = subprocess.Popen(
        argv + ["--sink", str(tmp_path / "received")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env()
    )
    watcher = await dep.connect(ROUTER)
    try:

        async def a_quarter_in() -> bool:
            assert adapter.poll() is None, adapter.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
            return await ingested(watcher) >= N // 4

        await wait_for(a_quarter_in, 120, interval=0.005, what="a quarter of the file stored")
        adapter.send_signal(signal.SIGSTOP)  # held still, so the restart lands in the middle of the load
        at_kill = await ingested(watcher)
        dep.server.proc.kill()  # no graceful shutdown: as a crashed or OOM-killed server
        dep.server.proc.wait(10)
        adapter.send_signal(signal.SIGCONT)  # the adapter finds its broker gone mid-file
        assert 0 < at_kill < N, f"the restart must land in the middle of the load (stored {at_kill})"
        await asyncio.sleep(1.0)  # the outage: the adapter retries against no server
        dep.server.start()
        out, _ = await asyncio.to_thread(adapter.communicate, timeout=240)
    finally:
        if adapter.poll() is None:
            adapter.kill()
        await watcher.close()
    log = out.decode(errors="replace")
    assert adapter.returncode == 0, log[-3000:]
    assert_no_personnummer(log, "the adapter's output")

    ids = [
        msgspec.json.decode(data, type=_Control).record["control_id"]
        for data in await stored(dep, ROUTER, "INGEST_polisen")
    ]
    assert duplicates(ids) == {}, "a record was stored twice"
    assert set(ids) == {n["kontrollId"] for n in natives}, f"{N - len(set(ids))} records lost"
    assert len(ids) == N
