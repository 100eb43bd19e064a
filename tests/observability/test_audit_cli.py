"""A security chief verifies, exports and queries a live log, as the oversight or as an agency; and
reconciles deliveries with receipts."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import stat

import msgspec

from samband._platform import Platform
from samband.cli import cli
from samband.observability.audit import PUBLIC_KEY_FILE, SIGNING_KEY_FILE, VKEY_FILE
from samband.schemas import ENVELOPE, Receipt, mask_personnummer
from samband.testing import skeleton_policy

from .._support import CommandRunner, audit_entries, wait_for
from .test_fail_closed import publish


async def audit_cli(dep, *args):
    # the CLI runs its own event loop: give it a thread of its own
    return await asyncio.to_thread(
        CommandRunner().invoke, cli, ["--state-dir", str(dep.state_dir), "audit", *args], catch_exceptions=False
    )


async def routed(dep, tmp_path, name: str, seed: int, n: int):
    """``n`` of Polisen's vehicle controls routed to Skatteverket on the skeleton policy, the platform
    stopped again: Skatteverket's sink."""
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    try:
        assert await publish(dep, tmp_path, name, seed, n) == n
        await wait_for(lambda: len(sink) >= n)
    finally:
        await platform.stop()
    return sink


async def test_a_live_log_is_verified_exported_and_queried_by_person(fresh_deployment, tmp_path):
    dep = fresh_deployment
    sink = await routed(dep, tmp_path, "live", 41, 25)
    keys = dep.state_dir / "keys"
    assert stat.S_IMODE(os.stat(keys / SIGNING_KEY_FILE).st_mode) == 0o600
    assert (keys / PUBLIC_KEY_FILE).read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    vkey = (keys / VKEY_FILE).read_text().strip()
    assert vkey.startswith("samband.local/audit/")

    out = await audit_cli(dep, "verify")  # as the oversight
    assert out.exit_code == 0, out.stdout
    assert out.stdout.startswith("OK: 25 entries, tree size 25, root ")
    assert out.stdout.rstrip().endswith(f"(log {vkey.split('+')[0]}, key {vkey.split('+')[1]})")

    export = tmp_path / "evidence.jsonl"
    out = await audit_cli(dep, "export", "--out", str(export))
    assert out.stdout.strip() == f"wrote 25 entries (log, tree size 25) to {export}"
    assert b"BEGIN PUBLIC KEY" not in export.read_bytes()  # the key is pinned, never shipped with the evidence
    out = await audit_cli(dep, "verify", "--file", str(export))
    assert out.exit_code == 0 and out.stdout.startswith("OK: 25 entries, tree size 25")

    envelopes = [ENVELOPE.decode(line) for line in sink.path.read_bytes().splitlines()]
    driver = next(e for e in envelopes if e.record.driver is not None).record.driver.pnr
    expected = {e.id for e in envelopes if e.record.driver is not None and e.record.driver.pnr == driver}
    out = await audit_cli(dep, "query", "--person", driver, "--json")
    assert out.exit_code == 0, out.stdout
    found = msgspec.json.decode(out.stdout)
    assert {r["envelope_id"] for r in found} == expected
    assert all(r["recipient"] == "skatteverket" and r["decision"] == "allow" for r in found)
    # the same answer offline from the export, as a table that never shows the personnummer
    out = await audit_cli(
        dep, "query", "--person", driver[2:8] + "-" + driver[8:], "--file", str(export), "--to", "skatteverket"
    )
    assert out.exit_code == 0 and f"{len(expected)} of 25 audit entries" in out.stdout
    assert driver not in out.stdout and driver[2:] not in out.stdout
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert "0 of 25 audit entries" in (await audit_cli(dep, "query", "--since", future, "--file", str(export))).stdout
    assert mask_personnummer(driver) not in out.stdout


async def test_an_agency_proves_its_own_entries_by_inclusion_and_sees_no_other(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await routed(dep, tmp_path, "mine", 42, 12)
    everyone = await audit_entries(dep)
    mine = [r for r in everyone if "skatteverket" in (r.origin, r.recipient)]
    assert 0 < len(mine) <= len(everyone)
    out = await audit_cli(dep, "verify", "--as", "auditor-skatteverket")
    assert out.exit_code == 0, out.stdout
    assert out.stdout.startswith(
        f"OK: {len(mine)} entries of skatteverket (origin or recipient), each included in the tree of size "
        f"{len(everyone)}"
    )
    assert f"{len(everyone)} leaf hashes meet" in out.stdout
    # an agency with no decisions about it proves that it has none in its view, and reads none
    out = await audit_cli(dep, "verify", "--as", "auditor-tullverket")
    assert out.exit_code == 0 and out.stdout.startswith("OK: 0 entries of tullverket")
    out = await audit_cli(dep, "query", "--as", "auditor-tullverket", "--json")
    assert out.exit_code == 0 and out.stdout.strip() == "[]"
    out = await audit_cli(dep, "query", "--as", "auditor-skatteverket", "--json")
    assert {r["envelope_id"] for r in msgspec.json.decode(out.stdout)} == {r.envelope_id for r in mine}
    # its export carries each entry with its inclusion proof, and verifies offline with the pinned key
    export = tmp_path / "skatteverket.jsonl"
    out = await audit_cli(dep, "export", "--as", "auditor-skatteverket", "--out", str(export))
    assert (
        out.stdout.strip() == f"wrote {len(mine)} entries (agency skatteverket, tree size {len(everyone)}) to {export}"
    )
    assert export.read_bytes().count(b'{"proof":') == len(mine)
    out = await audit_cli(dep, "verify", "--file", str(export))
    assert out.exit_code == 0 and out.stdout.startswith(f"OK: {len(mine)} entries of skatteverket")
    lines = export.read_bytes().split(b"\n")
    i = next(k for k, line in enumerate(lines) if line.startswith(b'{"kind":'))
    lines[i] = lines[i].replace(b'"allow"', b'"deny"', 1)
    export.write_bytes(b"\n".join(lines))
    out = await audit_cli(dep, "verify", "--file", str(export))
    index = msgspec.json.decode(lines[i])["index"]
    assert out.exit_code == 1
    assert out.stdout.splitlines()[0] == (
        f"FAILED at entry {index}: altered: entry {index} is not the entry the log holds at {index} (no inclusion)"
    )


async def test_verify_while_the_router_routes_never_reports_an_entry_being_written_as_missing(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    try:
        sending = asyncio.create_task(publish(dep, tmp_path, "busy", 43, 400))
        results = []
        while not sending.done() or len(sink) < 400:
            results.append(await audit_cli(dep, "verify"))
            if len(results) > 60:
                break
        await sending
    finally:
        await platform.stop()
    assert len(results) >= 2
    assert all(r.exit_code == 0 and r.stdout.startswith("OK: ") for r in results), [r.stdout for r in results]


async def test_reconcile_lists_deliveries_without_a_receipt_and_receipts_that_do_not_match(fresh_deployment, tmp_path):
    dep = fresh_deployment
    sink = await routed(dep, tmp_path, "rec", 51, 4)
    lines = sink.path.read_bytes().splitlines()
    envs = [ENVELOPE.decode(line) for line in lines]
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
    out = await audit_cli(dep, "reconcile", "--json")  # as the oversight: read-only on the audit log and RECEIPTS
    assert out.exit_code == 1
    got = msgspec.json.decode(out.stdout)
    assert (got["delivered"], got["receipts"], got["confirmed"]) == (4, 4, 2)
    gaps = sorted((g["kind"], g["envelope_id"]) for g in got["gaps"])
    assert gaps == sorted([("hash-mismatch", envs[2].id), ("wrong-recipient", envs[3].id), ("no-receipt", envs[3].id)])
