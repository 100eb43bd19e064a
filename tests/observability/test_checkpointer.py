"""The checkpointer signs the chain head every N records or T seconds, and never signs a broken chain."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys

from structlog.testing import capture_logs

from samband.broker_config import ROUTER
from samband.observability.audit import (
    Checkpointer,
    load_or_create_signing_key,
    load_public_key,
    read_trail,
    verify_bytes,
)
from samband.testing import skeleton_policy, synthetic_trail

from .._support import wait_for


async def append(js, records) -> None:
    for data in records:
        await js.publish("audit.records", data)


async def test_samband_audit_checkpoint_signs_every_n_records_and_on_the_way_out(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    trail = synthetic_trail(23, every=10**9, seed=61)[0]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "samband",
        "--state-dir",
        str(dep.state_dir),
        "audit",
        "checkpoint",
        "--every",
        "10",
        "--interval",
        "60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
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
        got = await read_trail(rc)
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
        got = await read_trail(nc)
    finally:
        await nc.close()
    assert [c.seq for c in got.decoded_checkpoints()] == [5]
    assert cp.broken.startswith("seq 8 does not follow seq 6")
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == [
        "audit chain broken: no further checkpoints are signed; run `samband audit verify`"
    ]


def _head(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _fed(dep, every: int):
    nc = await dep.connect(ROUTER)
    stop = asyncio.Event()
    cp = Checkpointer(nc, load_or_create_signing_key(dep.state_dir / "keys"), every=every, interval=60)
    task = asyncio.create_task(cp.run(stop, fed=True))
    await asyncio.wait_for(cp.resumed.wait(), 10)
    return nc, stop, cp, task


async def test_fed_by_the_router_the_checkpointer_signs_every_nth_record_without_reading_the_trail(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    records = synthetic_trail(23, every=10**9, seed=63)[0].records
    nc, stop, cp, task = await _fed(dep, every=10)
    try:
        for part in (records[:8], records[8:23]):  # two router batches, appended then fed
            await append(nc.jetstream(), part)
            cp.appended(part, _head(part[-1]))
        await wait_for(lambda: cp.signed_seq >= 20)
        assert not cp.tailing
        stop.set()
        await asyncio.wait_for(task, 10)
        got = await read_trail(nc)
    finally:
        await nc.close()
    assert [c.seq for c in got.decoded_checkpoints()] == [10, 20, 23]  # every 10th record exactly, and on the way out
    assert verify_bytes(got.records, got.checkpoints, load_public_key(dep.state_dir / "keys" / "audit-signing.pub")).ok


async def test_records_the_checkpointer_never_checked_are_read_from_the_trail_before_the_feed_takes_over(
    fresh_deployment,
):
    dep = fresh_deployment
    await dep.provision()
    records = synthetic_trail(30, every=10**9, seed=64)[0].records
    nc, stop, cp, task = await _fed(dep, every=10)
    js = nc.jetstream()
    try:
        await append(js, records[:12])  # a router that ran without a checkpointer, then crashed
        await append(js, records[12:20])
        cp.appended(records[12:20], _head(records[19]))  # the restarted router's first batch
        await wait_for(lambda: cp.seq == 20 and cp.signed_seq == 20)  # read 1..20 from the trail, checked
        await append(js, records[20:30])
        cp.appended(records[20:30], _head(records[29]))  # continues where it stands: the feed again
        await wait_for(lambda: not cp.tailing and cp.seq == 30)
        stop.set()
        await asyncio.wait_for(task, 10)
        got = await read_trail(nc)
    finally:
        await nc.close()
    assert [c.seq for c in got.decoded_checkpoints()] == [10, 20, 30]
    assert verify_bytes(got.records, got.checkpoints, load_public_key(dep.state_dir / "keys" / "audit-signing.pub")).ok


async def test_a_fed_checkpointer_does_not_sign_over_an_unchecked_stretch_that_does_not_hold_together(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    records = list(synthetic_trail(20, every=10**9, seed=65)[0].records)
    nc, stop, cp, task = await _fed(dep, every=5)
    js = nc.jetstream()
    try:
        await append(js, records[:6] + records[7:12])  # seq 7 never reached the stream, before this router
        await append(js, records[12:20])
        cp.appended(records[12:20], _head(records[19]))  # the feed itself is sound
        await wait_for(lambda: cp.broken is not None)
        stop.set()
        await asyncio.wait_for(task, 10)
        got = await read_trail(nc)
    finally:
        await nc.close()
    assert cp.broken.startswith("seq 8 does not follow seq 6")
    assert [c.seq for c in got.decoded_checkpoints()] == [5]


async def test_a_platform_stopped_while_routing_leaves_its_last_batch_covered_by_the_last_checkpoint(
    fresh_deployment, tmp_path
):
    from samband._platform import Platform

    from .test_fail_closed import publish

    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    platform.checkpointer.every = 10**9  # only the one on the way out
    assert await publish(dep, tmp_path, "busy", 66, 1500) == 1500
    await wait_for(lambda: platform.router.stats.audited >= 100)
    await platform.stop()  # the router is still routing: it finishes its batch, then the checkpointer signs
    rc = await dep.connect(ROUTER)
    try:
        got = await read_trail(rc)
    finally:
        await rc.close()
    assert got.records and got.decoded_checkpoints()[-1].seq == len(got.records)
    assert verify_bytes(got.records, got.checkpoints, load_public_key(dep.state_dir / "keys" / "audit-signing.pub")).ok
