"""A security chief proves the trail is complete and untouched, or learns exactly where it is not."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband.cli import cli
from samband.observability.audit import (
    AUDIT_DECODER,
    AuditChain,
    Checkpoint,
    key_id,
    read_export,
    sign_checkpoint,
    verify_bytes,
    write_export,
)
from samband.testing import synthetic_trail


@pytest.fixture(scope="module")
def trail():
    return synthetic_trail(5000, every=500)[:2]


def export_file(tmp_path, trail):
    path = tmp_path / "audit-export.jsonl"
    write_export(path, trail)
    return path


def verify_cli(path, *extra):
    return CliRunner().invoke(cli, ["audit", "verify", "--file", str(path), *extra], catch_exceptions=False)


def test_a_trail_of_thousands_of_decisions_verifies_with_its_count_and_head(trail, tmp_path):
    t, key = trail
    result = verify_bytes(t.records, t.checkpoints, key.public_key())
    head = hashlib.sha256(t.records[-1]).hexdigest()
    assert result.ok and (result.count, result.first_seq, result.last_seq, result.head) == (5000, 1, 5000, head)
    assert result.checkpoints == 10

    out = verify_cli(export_file(tmp_path, t))
    assert out.exit_code == 0
    assert out.output.strip() == (
        f"OK: 5000 records (seq 1..5000), head {head}, 10 signed checkpoints verified; "
        f"checkpoints signed by key {key_id(key.public_key())}"
    )


def _lines(path):
    return path.read_bytes().split(b"\n")


def _write(path, lines):
    path.write_bytes(b"\n".join(lines))


def tamper_altered(lines):
    # line 0 is the header: record seq s is line s
    lines[1234] = lines[1234].replace(b'"recipient":"', b'"recipient":"x', 1)


def tamper_removed(lines):
    del lines[1234]


def tamper_reordered(lines):
    lines[1234], lines[1235] = lines[1235], lines[1234]


def tamper_inserted(lines):
    # A forger writes a plausible record that chains to seq 1233 and claims seq 1234.
    prev = AUDIT_DECODER.decode(lines[1233])
    chain = AuditChain(prev.seq, hashlib.sha256(lines[1233]).hexdigest())
    forged = chain.seal(
        msgspec.structs.replace(AUDIT_DECODER.decode(lines[1234]), envelope_id="env-forged", recipient="tullverket")
    )
    lines.insert(1234, forged)


@pytest.mark.parametrize(
    ("tamper", "kind", "seq", "detail"),
    [
        (
            tamper_altered,
            "altered",
            1234,
            "the stored bytes of seq 1234 no longer hash to the prev recorded by seq 1235",
        ),
        (tamper_removed, "removed", 1234, "seq 1234 missing: seq 1235 follows seq 1233"),
        (tamper_reordered, "reordered", 1234, "seq 1234 is stored at position 1235, after seq 1235 at position 1234"),
        (
            tamper_inserted,
            "inserted",
            1234,
            "two records claim seq 1234 (positions 1234 and 1235); the chain continues "
            "from the one at position 1235, so the one at position 1234 was inserted",
        ),
    ],
    ids=["altered", "removed", "reordered", "inserted"],
)
def test_tampering_with_an_exported_copy_is_detected_and_located(trail, tmp_path, tamper, kind, seq, detail):
    path = export_file(tmp_path, trail[0])
    lines = _lines(path)
    tamper(lines)
    _write(path, lines)
    out = verify_cli(path)
    assert out.exit_code == 1
    assert out.output.strip() == f"FAILED at seq {seq}: {kind}: {detail}"


def test_a_forged_checkpoint_is_detected(trail, tmp_path):
    t, _key = trail
    path = export_file(tmp_path, t)
    lines = _lines(path)
    cp_lines = [i for i, line in enumerate(lines) if line.startswith(b'{"seq":')]
    # A forger signs with a key of their own but claims the deployment's key id.
    real = msgspec.json.decode(lines[cp_lines[3]], type=Checkpoint)
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), real.seq, real.head, real.at)
    lines[cp_lines[3]] = msgspec.json.encode(msgspec.structs.replace(forged, key_id=real.key_id))
    _write(path, lines)
    out = verify_cli(path)
    assert out.exit_code == 1
    assert (
        out.output.strip()
        == f"FAILED at seq 2000: bad-checkpoint: checkpoint at seq 2000 (head {real.head[:16]}…) has a bad signature"
    )


def test_a_rewritten_chain_that_still_holds_together_is_caught_by_the_signed_heads(trail):
    t, key = trail
    records = list(t.records)
    # Alter seq 1234 and re-chain everything after it: only the signed checkpoints can tell.
    chain = AuditChain(1233, hashlib.sha256(records[1232]).hexdigest())
    for i in range(1233, len(records)):
        rec = AUDIT_DECODER.decode(records[i])
        if i == 1233:
            rec = msgspec.structs.replace(rec, recipient="tullverket")
        records[i] = chain.seal(rec)
    result = verify_bytes(records, t.checkpoints, key.public_key())
    assert str(result) == (
        "FAILED at seq 1001: altered: the chain was rewritten between seq 1001 and seq 1500: "
        "its head no longer matches the signed checkpoint at seq 1500"
    )


def test_records_cut_off_the_end_are_missed_by_the_last_checkpoint(trail):
    t, key = trail
    result = verify_bytes(t.records[:4200], t.checkpoints, key.public_key())
    assert (
        str(result)
        == "FAILED at seq 4201: removed: records after seq 4200 are missing: a signed checkpoint vouches for seq 4500"
    )


def test_an_export_of_a_time_window_starts_after_a_checkpoint_and_verifies_on_its_own(trail, tmp_path):
    import datetime as dt

    from samband.observability.audit import slice_trail
    from samband.testing import SYNTHETIC_T0 as T0

    t, _key = trail
    part = slice_trail(t, T0 + dt.timedelta(seconds=1200), T0 + dt.timedelta(seconds=2100))
    # widened to the checkpoints at 1000 and 2500 so both ends are vouched for by a signature
    assert (AUDIT_DECODER.decode(part.records[0]).seq, AUDIT_DECODER.decode(part.records[-1]).seq) == (1001, 2500)
    path = tmp_path / "window.jsonl"
    write_export(path, part)
    back = read_export(path)
    assert back.records == part.records
    out = verify_cli(path)
    assert out.exit_code == 0, out.output
    assert out.output.startswith("OK: 1500 records (seq 1001..2500)")
    # the window's first record is anchored by the checkpoint before it: altering it is still caught
    lines = _lines(path)
    lines[1] = lines[1].replace(b'"operation":"', b'"operation":"x', 1)
    _write(path, lines)
    assert verify_cli(path).output.startswith("FAILED at seq 1001: altered")
