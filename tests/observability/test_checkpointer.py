"""The checkpointer signs the chain head every N records or T seconds, and never signs a broken chain."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from structlog.testing import capture_logs

from samband.broker_config import ROUTER
from samband.observability import (
    Checkpointer, load_or_create_signing_key, load_public_key, read_trail, verify_bytes,
)

from ..conftest import wait_for
from samband.observability import synthetic_trail


async def append(js, records) -> None:
    for data in records:
        await js.publish("audit.records", data)


async def test_samband_audit_checkpoint_signs_every_n_records_and_on_the_way_out(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    trail = synthetic_trail(23, every=10**9, seed=61)[0]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "samband", "--state-dir", str(dep.state_dir), "audit", "checkpoint", "--every", "10",
        "--interval", "60", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "COLUMNS": "200"},
    )
    rc = await dep.connect(ROUTER)
    js = rc.jetstream()
    try:
        await wait_for(lambda: (dep.state_dir / "keys" / "audit-signing.pub").exists(), timeout=20)
        await append(js, trail.records)

        async def checkpoints() -> int:
            return (await js.stream_info("AUDIT_CHECKPOINTS")).state.messages

        for _ in range(200):
            if await checkpoints() >= 2:
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        got = await read_trail(js)
    finally:
        await rc.close()
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert [c.seq for c in got.decoded_checkpoints()] == [10, 20, 23]
    assert "checkpointer stopped: chain read to seq 23, 3 checkpoints signed" in err.decode()
    key = load_public_key(dep.state_dir / "keys" / "audit-signing.pub")
    assert verify_bytes(got.records, got.checkpoints, key).ok


async def test_the_checkpointer_refuses_to_sign_a_chain_that_does_not_hold_together(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    trail = synthetic_trail(12, every=10**9, seed=62)[0]
    records = list(trail.records)
    del records[6]  # seq 7 never reaches the stream
    nc = await dep.connect(ROUTER)
    stop = asyncio.Event()
    cp = Checkpointer(nc, load_or_create_signing_key(dep.state_dir / "keys"), every=5, interval=60)
    try:
        with capture_logs() as logs:
            task = asyncio.create_task(cp.run(stop))
            await append(nc.jetstream(), records)
            await wait_for(lambda: cp.broken is not None)
            stop.set()
            await asyncio.wait_for(task, 10)
        got = await read_trail(nc.jetstream())
    finally:
        await nc.close()
    assert [c.seq for c in got.decoded_checkpoints()] == [5]
    assert cp.broken.startswith("seq 8 does not follow seq 6")
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["audit chain broken: no further checkpoints are signed; run `samband audit verify`"]
