"""A security chief proves the log is complete and untouched, or learns exactly where and how it is not.

Offline: an export checked with the pinned key only (the deployment's or --public-key, never
one found in the file). Every kind of tampering is named at its leaf: altered, removed,
reordered, inserted, the front or the tail cut off (with and without their checkpoints), a
forged or re-signed checkpoint, no checkpoint at all.
"""

from __future__ import annotations

import base64
import datetime as dt

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband.cli import cli
from samband.observability.audit import (
    ENTRY_DECODER,
    CompactRange,
    ExportHeader,
    LogData,
    LogKey,
    encode_entry,
    leaf_hashes,
    public_key_pem,
    verify_log,
    write_export,
)
from samband.testing import SYNTHETIC_T0, synthetic_log

from .._support import CommandRunner

LOG = synthetic_log(5000, batch=500, seed=5)


def export(path, log=LOG, *, entries=None, checkpoints=None, leaves=None, size=None):
    data = log.data()
    entries = data.entries if entries is None else entries
    notes = [n for _, n in data.checkpoints] if checkpoints is None else checkpoints
    size = len(data.entries) if size is None else size
    header = ExportHeader(
        exported_at=dt.datetime(2026, 11, 26, tzinfo=dt.UTC), origin=log.key.origin, size=size, scope="log",
        entries=len(entries),
    )  # fmt: skip
    write_export(path, header, entries, notes, leaves=data.published if leaves is None else leaves)
    return path


def verify_cli(path, *extra, key=LOG.key, tmp=None):
    pem = tmp / "log.pub"
    pem.write_bytes(public_key_pem(key.key.public_key()))
    args = ["--state-dir", str(tmp / "no-deployment"), "audit", "verify", "--file", str(path), "--public-key", str(pem)]
    return CommandRunner().invoke(cli, [*args, *extra], catch_exceptions=False)


def lines_of(path):
    return path.read_bytes().split(b"\n")


def rewrite(path, lines):
    path.write_bytes(b"\n".join(lines))


def entry_line(lines, index):
    """The line of the export that holds entry ``index``."""
    first = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":'))
    return first + index


def test_a_whole_log_exported_verifies_with_its_size_root_and_every_checkpoint(tmp_path):
    data = LOG.data()
    result = verify_log(data, LOG.key.verifier)
    root = base64.b64encode(result.root).decode()
    assert result.ok and (result.size, result.entries, result.checkpoints) == (5000, 5000, 10)
    out = verify_cli(export(tmp_path / "all.jsonl"), tmp=tmp_path)
    assert out.exit_code == 0
    assert out.output.strip() == (
        f"OK: 5000 entries, tree size 5000, root {root}, 10 signed checkpoints verified "
        f"(log {LOG.key.origin}, key {LOG.key.verifier.key_id.hex()})"
    )


def altered(lines):
    i = entry_line(lines, 1234)
    lines[i] = lines[i].replace(b'"recipient":"', b'"recipient":"x', 1)


def removed(lines):
    del lines[entry_line(lines, 1234)]


def reordered(lines):
    i = entry_line(lines, 1234)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]


def inserted(lines):
    # a plausible decision claiming index 1234, slipped in before the real one
    i = entry_line(lines, 1234)
    forged = msgspec.structs.replace(ENTRY_DECODER.decode(lines[i]), envelope_id="env-forged", recipient="tullverket")
    lines.insert(i, encode_entry(forged, 1234))


def duplicated(lines):
    i = entry_line(lines, 1234)
    lines.insert(i, lines[entry_line(lines, 1000)])


@pytest.mark.parametrize(
    ("tamper", "line"),
    [
        (altered, "FAILED at entry 1234: altered: the stored bytes of entry 1234 are not those the log signed"),
        (removed, "FAILED at entry 1234: removed: entry 1234 is missing: entry 1235 follows entry 1233"),
        (
            reordered,
            "FAILED at entry 1234: reordered: entry 1234 is stored at position 1235, after entry 1235 at position 1234",
        ),
        (
            inserted,
            "FAILED at entry 1234: inserted: an entry that is not in the log sits at position 1234, before entry 1234",
        ),
        (duplicated, "FAILED at entry 1234: inserted: a second copy of entry 1000 at position 1234"),
    ],
    ids=["altered", "removed", "reordered", "inserted", "duplicated"],
)
def test_tampering_with_an_export_is_named_at_its_leaf(tmp_path, tamper, line):
    path = export(tmp_path / "evidence.jsonl")
    lines = lines_of(path)
    tamper(lines)
    rewrite(path, lines)
    out = verify_cli(path, tmp=tmp_path)
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == line


def test_entries_cut_from_the_front_are_named_with_or_without_their_checkpoints(tmp_path):
    data = LOG.data()
    for notes in ([n for _, n in data.checkpoints], [n for _, n in data.checkpoints][3:]):
        path = export(tmp_path / "front.jsonl", entries=data.entries[1500:], checkpoints=notes)
        out = verify_cli(path, tmp=tmp_path)
        assert out.exit_code == 1
        assert out.output.splitlines()[0] == (
            "FAILED at entry 0: truncated-front: the log starts at entry 1500: entries 0..1499 are gone"
        )


def test_entries_cut_from_the_tail_are_named_with_or_without_their_checkpoints(tmp_path):
    data = LOG.data()
    notes = [n for _, n in data.checkpoints]
    out = verify_cli(export(tmp_path / "t1.jsonl", entries=data.entries[:4200]), tmp=tmp_path)
    assert out.output.splitlines()[0] == (
        "FAILED at entry 4200: truncated-tail: entries 4200..4999 are missing: "
        "a signed checkpoint vouches for 5000 entries"
    )
    # the tail's checkpoints cut too, the header still saying what the export covers
    out = verify_cli(export(tmp_path / "t2.jsonl", entries=data.entries[:4000], checkpoints=notes[:8]), tmp=tmp_path)
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == (
        "FAILED at entry 4000: truncated-tail: a log of at least 5000 entries was asked for; "
        "the newest checkpoint vouches for 4000"
    )
    # and the header rewritten: an older state of the log, genuine; only what the verifier knows
    # of the log (--size) tells it is not the whole
    path = export(tmp_path / "t3.jsonl", entries=data.entries[:4000], checkpoints=notes[:8], size=4000)
    assert verify_cli(path, tmp=tmp_path).exit_code == 0
    out = verify_cli(path, "--size", "5000", tmp=tmp_path)
    assert out.exit_code != 0 and "truncated-tail" in out.output


def test_a_log_rewritten_and_re_signed_with_another_key_fails_against_the_pinned_key(tmp_path):
    """A forger alters entry 1234, rebuilds the whole tree and signs it with a key of their own."""
    forger = LogKey(Ed25519PrivateKey.generate())
    entries = list(LOG.data().entries)
    rec = ENTRY_DECODER.decode(entries[1234])
    entries[1234] = encode_entry(msgspec.structs.replace(rec, recipient="tullverket"), 1234)
    tree, notes = CompactRange(), []
    for lo in range(0, len(entries), 500):
        tree.extend(leaf_hashes(entries[lo : lo + 500]))
        notes.append(forger.sign(tree.size, tree.root()))
    leaves = leaf_hashes(entries)
    path = export(tmp_path / "resigned.jsonl", entries=entries, checkpoints=notes, leaves=leaves)
    out = verify_cli(path, tmp=tmp_path)
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == (
        f"FAILED at log: no-checkpoint: 5000 entries and no checkpoint signed by key {LOG.key.verifier.key_id.hex()}"
    )
    assert "bad-checkpoint" in out.output and "Expected a signature by a known key" in out.output
    # with the forger's key it would verify: that is why the key is pinned, never taken from the file
    assert verify_cli(path, key=forger, tmp=tmp_path).exit_code == 0


def test_without_a_pinned_key_offline_verification_refuses_to_start(tmp_path):
    path = export(tmp_path / "e.jsonl")
    out = CommandRunner().invoke(cli, ["--state-dir", str(tmp_path / "none"), "audit", "verify", "--file", str(path)])
    assert out.exit_code == 2
    assert "Expected the log's public key to pin" in out.output
    assert "a key found inside what is verified is never trusted" in out.output


def test_an_export_with_no_checkpoint_fails(tmp_path):
    out = verify_cli(export(tmp_path / "bare.jsonl", checkpoints=[]), tmp=tmp_path)
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == (
        f"FAILED at log: no-checkpoint: 5000 entries and no checkpoint signed by key {LOG.key.verifier.key_id.hex()}"
    )


def test_a_checkpoint_forged_under_the_logs_name_is_named(tmp_path):
    path = export(tmp_path / "forged.jsonl")
    lines = lines_of(path)
    i = next(k for k, line in enumerate(lines) if b'"checkpoint"' in line and b"\\n2000\\n" in line)
    note = msgspec.json.decode(lines[i])["checkpoint"]
    body = note[: note.index("\n\n") + 1]
    from samband.observability.audit import sign_note

    sig = sign_note(body, LOG.key.origin, Ed25519PrivateKey.generate())
    lines[i] = msgspec.json.encode({"checkpoint": body + "\n" + sig.line()})
    rewrite(path, lines)
    out = verify_cli(path, tmp=tmp_path)
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == (
        f"FAILED at log: bad-checkpoint: the checkpoint at line {i + 1}: Expected a signature by a known key, "
        f"got only {LOG.key.origin} ({sig.key_id.hex()})"
    )


def test_entries_rewritten_with_their_published_leaf_hashes_still_miss_the_signed_root(tmp_path):
    data = LOG.data()
    entries = list(data.entries)
    rec = ENTRY_DECODER.decode(entries[1234])
    entries[1234] = encode_entry(msgspec.structs.replace(rec, decision="deny"), 1234)
    result = verify_log(LogData(entries, leaf_hashes(entries), 0, data.checkpoints), LOG.key.verifier)
    assert str(result) == (
        "FAILED at entry 1000: altered: entries 1000..1499 no longer meet the signed checkpoint at size 1500 "
        "(rewritten together with their published leaf hashes)"
    )


def test_a_window_export_verifies_on_its_own_and_names_what_is_missing(tmp_path):
    from samband.observability.audit import read_export, verify_export

    data = LOG.data()
    first, last = 1200, 2100
    header = ExportHeader(
        exported_at=dt.datetime.now(dt.UTC), origin=LOG.key.origin, size=5000, scope="window", entries=901,
        first=first, last=last, since=SYNTHETIC_T0, until=SYNTHETIC_T0,
    )  # fmt: skip
    path = tmp_path / "window.jsonl"
    write_export(path, header, data.entries[first : last + 1], [n for _, n in data.checkpoints], leaves=data.published)
    result = verify_export(read_export(path), LOG.key.verifier)
    assert result.ok, str(result)
    assert str(result).startswith("OK: 901 entries, each included in the tree of size 5000")
    lines = lines_of(path)
    del lines[entry_line(lines, 500)]
    rewrite(path, lines)
    assert str(verify_export(read_export(path), LOG.key.verifier)) == (
        "FAILED at entry 1700: removed: entries 1700..1700 are missing (position 500)"
    )


def test_a_leaf_hash_changed_in_its_stored_tile_is_named_when_the_log_is_read_from_the_stream():
    from samband.observability.audit import log_from_messages

    read = [m for m in LOG.messages if not m[1].startswith("audit.view.")]
    whole = log_from_messages(read)
    assert len(whole.published_raw) == 10  # one tile an append, kept where the tile holds it
    assert verify_log(whole, LOG.key.verifier).ok
    # leaf 1234's published hash, one bit changed inside the third append's tile (leaves 1000..1499) as stored
    tiles = [n for n, (_, subject, _) in enumerate(read) if subject == "audit.tree"]
    seq, subject, body = read[tiles[2]]
    at = 12 + 32 * (1234 - 1000) + 5
    changed = list(read)
    changed[tiles[2]] = (seq, subject, body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :])
    result = verify_log(log_from_messages(changed), LOG.key.verifier)
    assert str(result) == "FAILED at entry 1234: altered: the published leaf hash of entry 1234 is not its entry's hash"
