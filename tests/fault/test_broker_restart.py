"""The nats-server is killed and restarted while an adapter loads a file: it resumes, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys

import msgspec
import pytest

from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER

from ._procs import _env, duplicates, read_stream

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]

N = 20_000


async def _ingested(nc) -> int:
    try:
        return (await nc.jetstream().stream_info("INGEST")).state.messages
    except Exception:
        return -1


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

    adapter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "samband",
            "--state-dir",
            str(dep.state_dir),
            "adapter",
            "run",
            "polisen",
            "--source",
            str(export),
            "--once",
            "--sink",
            str(tmp_path / "received"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    watcher = await dep.connect(ROUTER)
    try:
        for _ in range(3000):
            if await _ingested(watcher) >= N // 4:
                break
            assert adapter.poll() is None, adapter.stdout.read().decode()[-3000:]
            await asyncio.sleep(0.01)
        at_kill = await _ingested(watcher)
        assert 0 < at_kill < N, f"the restart must land in the middle of the load (ingested {at_kill})"
        dep.server.proc.kill()  # no graceful shutdown: as a crashed or OOM-killed server
        dep.server.proc.wait(10)
        await asyncio.sleep(1.0)
        dep.server.start()
        out, _ = await asyncio.to_thread(adapter.communicate, timeout=240)
    finally:
        if adapter.poll() is None:
            adapter.kill()
        await watcher.close()
    log = out.decode(errors="replace")
    assert adapter.returncode == 0, log[-3000:]

    msgs = await read_stream(dep, ROUTER, "INGEST", "ingest.>")
    ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    assert duplicates(ids) == {}, "a record was stored twice"
    assert set(ids) == {f"polisen:{n['kontrollId']}" for n in natives}, f"{N - len(set(ids))} records lost"
    assert len(msgs) == N
