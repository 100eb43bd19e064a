"""A security chief queries, verifies and exports a live trail, and reconciles deliveries with receipts."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import stat

import msgspec
from click.testing import CliRunner

from samband._platform import Platform
from samband.broker_config import ROUTER
from samband.cli import cli
from samband.observability.audit import PUBLIC_KEY_FILE, SIGNING_KEY_FILE, read_trail, verify_bytes
from samband.schemas import ENVELOPE, Receipt, mask_personnummer
from samband.testing import skeleton_policy

from .._support import wait_for
from .test_fail_closed import publish


async def audit_cli(dep, *args):
    # the CLI runs its own event loop: give it a thread of its own
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["--state-dir", str(dep.state_dir), "audit", *args], catch_exceptions=False
    )


async def test_a_live_trail_is_checkpointed_verified_exported_and_queried_by_person(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    platform.checkpointer.every = 10
    sink = await platform.start_sink("skatteverket")
    try:
        assert await publish(dep, tmp_path, "live", 41, 25) == 25
        await wait_for(lambda: len(sink) >= 25)
        await wait_for(lambda: platform.checkpointer.signed_seq >= 20)
        assert not platform.checkpointer.tailing  # fed by the router: it never read the trail back
    finally:
        await platform.stop()
    keys = dep.state_dir / "keys"
    assert stat.S_IMODE(os.stat(keys / SIGNING_KEY_FILE).st_mode) == 0o600
    assert (keys / PUBLIC_KEY_FILE).read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    rc = await dep.connect(ROUTER)
    try:
        trail = await read_trail(rc, public_key_pem=(keys / PUBLIC_KEY_FILE).read_bytes())
    finally:
        await rc.close()
    # the last checkpoint, signed on the way out, covers the whole trail
    assert [c.seq for c in trail.decoded_checkpoints()] == [10, 20, 25]

    out = await audit_cli(dep, "verify")  # as the auditor
    assert out.exit_code == 0, out.output
    assert out.output.startswith(
        f"OK: 25 records (seq 1..25), head {verify_bytes(trail.records).head}, 3 signed checkpoints verified"
    )

    export = tmp_path / "evidence.jsonl"
    out = await audit_cli(dep, "export", "--out", str(export))
    assert out.output.strip() == f"wrote 25 records and 3 checkpoints to {export}"
    assert (await audit_cli(dep, "verify", "--file", str(export))).output.startswith("OK: 25 records (seq 1..25)")

    envelopes = [ENVELOPE.decode(line) for line in sink.path.read_bytes().splitlines()]
    driver = next(e for e in envelopes if e.record.driver is not None).record.driver.pnr
    expected = {e.id for e in envelopes if e.record.driver is not None and e.record.driver.pnr == driver}
    out = await audit_cli(dep, "query", "--person", driver, "--json")
    assert out.exit_code == 0, out.output
    found = msgspec.json.decode(out.output)
    assert {r["envelope_id"] for r in found} == expected
    assert all(r["recipient"] == "skatteverket" and r["decision"] == "allow" for r in found)
    # the same answer offline from the export, as a table that never shows the personnummer
    out = await audit_cli(
        dep, "query", "--person", driver[2:8] + "-" + driver[8:], "--file", str(export), "--to", "skatteverket"
    )
    assert out.exit_code == 0 and f"{len(expected)} of 25 audit records" in out.output
    assert driver not in out.output and driver[2:] not in out.output
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert "0 of 25 audit records" in (await audit_cli(dep, "query", "--since", future, "--file", str(export))).output
    assert mask_personnummer(driver) not in out.output


async def test_reconcile_lists_deliveries_without_a_receipt_and_receipts_that_do_not_match(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    try:
        assert await publish(dep, tmp_path, "rec", 51, 4) == 4
        await wait_for(lambda: len(sink) >= 4)
    finally:
        await platform.stop()
    lines = sink.path.read_bytes().splitlines()
    envs = [ENVELOPE.decode(line) for line in lines]
    import hashlib

    now = dt.datetime.now(dt.UTC)
    nc = await dep.connect("skatteverket")
    try:
        js = nc.jetstream()
        # receipts of the recipient's own: two good, one with the wrong hash, one naming another recipient
        for env, raw in zip(envs[:2], lines[:2]):
            await js.publish(
                "receipts.written",
                msgspec.json.encode(
                    Receipt(
                        envelope_id=env.id,
                        recipient="skatteverket",
                        written_at=now,
                        sha256=hashlib.sha256(raw).hexdigest(),
                    )
                ),
            )
        await js.publish(
            "receipts.written",
            msgspec.json.encode(
                Receipt(envelope_id=envs[2].id, recipient="skatteverket", written_at=now, sha256="0" * 64)
            ),
        )
        await js.publish(
            "receipts.written",
            msgspec.json.encode(
                Receipt(envelope_id=envs[3].id, recipient="tullverket", written_at=now, sha256="0" * 64)
            ),
        )
    finally:
        await nc.close()
    out = await audit_cli(dep, "reconcile", "--json")  # as the auditor: read-only on AUDIT* and RECEIPTS
    assert out.exit_code == 1
    got = msgspec.json.decode(out.output)
    assert (got["delivered"], got["receipts"], got["confirmed"]) == (4, 4, 2)
    gaps = sorted((g["kind"], g["envelope_id"]) for g in got["gaps"])
    assert gaps == sorted([("hash-mismatch", envs[2].id), ("wrong-recipient", envs[3].id), ("no-receipt", envs[3].id)])
