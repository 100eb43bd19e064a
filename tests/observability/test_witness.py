"""Agencies' witnesses check that the log only ever grows and cosign what they checked; a security
chief can require that several agencies did before trusting a checkpoint."""

from __future__ import annotations

import asyncio
import base64
import os
import stat

import pytest

from samband.broker_config import AUDIT_ADMIN, MAX_COSIGNATURE_BYTES, WITNESS_BYTES, WITNESS_KEPT
from samband.cli import cli
from samband.observability.audit import (
    CompactRange,
    Witness,
    WitnessAlarm,
    build_batch,
    leaf_hash,
    load_or_create_signing_key,
    load_witness_key,
    parse_note,
    witness_state_path,
)
from samband.observability.bus import AckPipeline, PubAck, PublishRefused, read_range

from .._support import CommandRunner
from .test_audit_writer import draft, writer

AGENCIES = ("tullverket", "skatteverket", "kronofogden")


async def run_cli(dep, *args):
    return await asyncio.to_thread(
        CommandRunner().invoke, cli, ["--state-dir", str(dep.state_dir), *args], catch_exceptions=False
    )


async def append(dep, *batches) -> None:
    ap, nc = await writer(dep)
    try:
        await ap.start()
        for b in batches:
            await ap.append(b)
    finally:
        await ap.close()
        await nc.close()


async def witness(dep, agency: str) -> tuple[Witness, object]:
    nc = await dep.connect(f"witness-{agency}")
    key = load_or_create_signing_key(dep.state_dir / "keys")
    return Witness(
        nc, load_witness_key(dep.state_dir, agency), key.verifier, witness_state_path(dep.state_dir, agency)
    ), nc


async def test_three_agencies_witness_the_log_and_verify_requires_their_cosignatures(log_dep):
    dep = log_dep
    await append(dep, [draft(1), draft(2)], [draft(3)])
    out = await run_cli(dep, "audit", "verify", "--witnesses", "3")
    assert out.exit_code == 1
    assert out.stdout.splitlines()[0] == (
        "FAILED at log: witnesses: 3 distinct agencies' cosignatures asked for on a checkpoint; "
        "the most any has is 0 (size 3)"
    )
    for agency in AGENCIES:
        out = await run_cli(dep, "witness", agency, "--once")
        assert out.exit_code == 0 and out.stdout.strip() == "cosigned size 3"
        assert (await run_cli(dep, "witness", agency, "--once")).stdout.strip() == "nothing new to cosign"
    state = witness_state_path(dep.state_dir, "tullverket")
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    out = await run_cli(dep, "audit", "verify", "--witnesses", "3")
    assert out.exit_code == 0, out.stdout
    assert out.stdout.startswith("OK: 3 entries, tree size 3")
    assert "cosigned by the witnesses of kronofogden, skatteverket, tullverket" in out.stdout
    out = await run_cli(dep, "audit", "verify", "--witnesses", "4")
    assert out.exit_code == 1 and "the most any has is 3 (size 3)" in out.stdout
    # the log grows; one witness follows, checking the new leaves against what it cosigned before
    await append(dep, [draft(4), draft(5)])
    w, nc = await witness(dep, "tullverket")
    try:
        cp = await w.step()
        assert cp is not None and cp.size == 5
    finally:
        await nc.close()
    # an agency's auditor asks for it too; the newest checkpoint with 3 cosignatures is still size 3
    out = await run_cli(dep, "audit", "verify", "--as", "auditor-tullverket", "--witnesses", "3")
    assert out.exit_code == 0 and "tree of size 3" in out.stdout
    # the cosignatures are stored beside the checkpoints, each on its witness's subject
    admin = await dep.connect(AUDIT_ADMIN)
    try:
        last = (await admin.jetstream().stream_info("AUDIT_WITNESS")).state.last_seq
        msgs = await read_range(admin, "AUDIT_WITNESS", 1, last, with_subjects=True)
    finally:
        await admin.close()
    assert sorted(s for s, _ in msgs) == sorted(
        ["audit.cosignature.tullverket", "audit.cosignature.skatteverket", "audit.cosignature.kronofogden"]
        + ["audit.cosignature.tullverket"]
    )
    names = {parse_note(d).signatures[0].name for _, d in msgs}
    assert names == {f"samband.local/witness/{a}" for a in AGENCIES}


async def test_a_witness_refuses_to_cosign_a_log_that_forked_or_shrank(log_dep):
    dep = log_dep
    await append(dep, [draft(1), draft(2)])
    w, nc = await witness(dep, "skatteverket")
    admin = await dep.connect(AUDIT_ADMIN)
    key = load_or_create_signing_key(dep.state_dir / "keys")
    try:
        assert (await w.step()).size == 2
        # the writer's key signs a tree that does not extend the one witnessed (another history of size 2)
        other = CompactRange()
        other.extend([leaf_hash(b"another"), leaf_hash(b"history")])
        last = (await admin.jetstream().stream_info("AUDIT")).state.last_seq
        built = build_batch([draft(3).record], size=2, frontier=other, after=last, term=1, ingest_high=0, key=key)
        for subject, body in built.messages:
            await admin.jetstream().publish(subject, body)
        with pytest.raises(WitnessAlarm) as exc:
            await w.step()
        assert str(exc.value) == (
            "the leaf hashes after entry 2 do not lead from the tree it cosigned to the root signed for size 3"
        )
        # and a checkpoint for a smaller tree than it cosigned
        await admin.jetstream().publish("audit.checkpoint", key.sign(1, leaf_hash(b"x")))
        with pytest.raises(WitnessAlarm) as exc:
            await w.step()
        assert str(exc.value) == "the log's newest checkpoint is for 1 entries; this witness cosigned 2 before"
        assert w.state.size == 2 and base64.b64decode(w.state.root)  # nothing cosigned past the alarm
    finally:
        await nc.close()
        await admin.close()
    out = await run_cli(dep, "witness", "skatteverket", "--once")
    assert out.exit_code == 1
    assert out.stdout.strip() == "ALARM: the log's newest checkpoint is for 1 entries; this witness cosigned 2 before"


async def test_a_witness_that_floods_its_subject_pushes_out_only_its_own_older_cosignatures_and_the_log_goes_on(
    log_dep,
):
    """A witness's credentials are its agency's. Flooding its subject, it used to be able to fill the
    router's storage, which the log shares: every append refused, every delivery stopped (fail closed)."""
    dep = log_dep
    await append(dep, [draft(1)])
    assert (await run_cli(dep, "witness", "tullverket", "--once")).stdout.strip() == "cosigned size 1"
    nc = await dep.connect("witness-skatteverket")
    pipeline = AckPipeline(nc)
    subject = "audit.cosignature.skatteverket"
    try:
        sent = 0
        while sent < WITNESS_KEPT + 500:
            results = await pipeline.publish([(subject, b"x" * 1000, {})] * 5000, 30)
            assert all(isinstance(r, PubAck) for r in results), next(r for r in results if not isinstance(r, PubAck))
            sent += len(results)
        (big,) = await pipeline.publish([(subject, b"x" * (MAX_COSIGNATURE_BYTES + 1), {})], 5)
        assert isinstance(big, PublishRefused) and big.error.description == "message size exceeds maximum allowed"
    finally:
        await pipeline.close()
        await nc.close()
    admin = await dep.connect(AUDIT_ADMIN)
    try:
        info = await admin.jetstream().stream_info("AUDIT_WITNESS", subjects_filter="audit.cosignature.*")
    finally:
        await admin.close()
    assert info.state.subjects == {subject: WITNESS_KEPT, "audit.cosignature.tullverket": 1}
    assert info.config.max_bytes == WITNESS_BYTES  # reserved: the log's room is not the witnesses'
    # the log goes on, the honest witness cosigns it, and a security chief's verify that asks for it is OK
    await append(dep, [draft(2)])
    assert (await run_cli(dep, "witness", "tullverket", "--once")).stdout.strip() == "cosigned size 2"
    out = await run_cli(dep, "audit", "verify", "--witnesses", "1")
    assert out.exit_code == 0 and out.stdout.startswith("OK: 2 entries, tree size 2"), out.stdout
    assert "cosigned by the witnesses of tullverket" in out.stdout
