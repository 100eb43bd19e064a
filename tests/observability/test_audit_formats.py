"""The log's notes, checkpoints, cosignatures, bundles and leaf hashes follow their formats to the letter.

Signed notes: the reference vector of golang.org/x/mod/sumdb/note (note_test.go and the package
documentation, BSD-3-Clause: the "PeterNeumann" key, its signer key and its signed note) is
reproduced byte for byte, since Ed25519 signing is deterministic. Checkpoints are parsed by
the rules of C2SP tlog-checkpoint; cosignatures are C2SP tlog-cosignature ``cosignature/v1``.
"""

from __future__ import annotations

import base64
import hashlib

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband.observability.audit import ENTRY_DECODER as DECODER
from samband.observability.audit import (
    SIG_COSIGNATURE_V1,
    AuditRecord,
    BundleError,
    BundleHeader,
    Checkpoint,
    Incident,
    LogKey,
    NoteError,
    Verifier,
    WitnessKey,
    decode_bundle,
    decode_tree,
    encode_bundle,
    encode_entry,
    encode_tree,
    key_id,
    open_checkpoint,
    parse_note,
    sign_note,
    verify_cosignatures,
)

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def go_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 1
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_the_go_reference_note_is_reproduced_byte_for_byte_and_opens_with_its_verifier_key():
    v = Verifier.parse(GO_VKEY)
    assert (v.name, v.key_id.hex(), v.vkey()) == ("PeterNeumann", "c74f20a3", GO_VKEY)
    sig = sign_note(GO_TEXT, "PeterNeumann", go_key())
    assert sig.line() == GO_SIG
    note = parse_note((GO_TEXT + "\n" + GO_SIG).encode())
    assert note.text == GO_TEXT and note.signatures[0].key_id.hex() == "c74f20a3"
    assert v.verify(note.text.encode(), note.signatures[0].signature)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Expected key ID c74f20a3"),
        ("PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Expected an Ed25519 verifier key"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Expected a verifier key"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10", "Expected base64"),
        ("PeterNeumann+c74f20a3", "Expected a verifier key"),
    ],
)
def test_a_mangled_verifier_key_is_refused(vkey, message):
    with pytest.raises(NoteError, match=message):
        Verifier.parse(vkey)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (GO_TEXT + GO_SIG, "Expected a blank line"),
        (GO_TEXT + "\n", "Expected at least one signature line"),
        (GO_TEXT + "\n" + GO_SIG.replace("— ", "- "), "Expected a signature line"),
        (GO_TEXT + "\n" + GO_SIG.rstrip("\n"), "Expected a note ending in a newline"),
        ("a\tb\n\n" + GO_SIG, "without control characters"),
        (GO_TEXT + "\n" + "— PeterNeumann AAAA\n", "Expected a key ID and a signature"),
        (GO_TEXT + "\n" + "— PeterNeumann !!!!\n", "Expected base64"),
        (GO_TEXT + "\n" + GO_SIG * 101, "Expected at most 100 signatures"),
    ],
)
def test_a_note_that_breaks_the_format_is_refused_with_the_rule(note, message):
    with pytest.raises(NoteError, match=message):
        parse_note(note.encode())


def test_sixteen_signatures_are_accepted_and_unknown_ones_ignored():
    other = [sign_note(GO_TEXT, f"other.example/{i}", Ed25519PrivateKey.generate()).line() for i in range(15)]
    note = (GO_TEXT + "\n" + "".join(other) + GO_SIG).encode()
    assert len(parse_note(note).signatures) == 16
    from samband.observability.audit import open_note

    text, good = open_note(note, [Verifier.parse(GO_VKEY)])
    assert text.text == GO_TEXT and [g.name for g in good] == ["PeterNeumann"]


def test_a_checkpoint_is_a_signed_note_of_origin_size_and_root_and_opens_only_with_its_key():
    log = LogKey(Ed25519PrivateKey.generate())
    root = hashlib.sha256(b"root").digest()
    data = log.sign(20852163, root)
    text = data.decode()
    lines = text.split("\n")
    assert lines[:4] == [log.origin, "20852163", base64.b64encode(root).decode(), ""]
    assert lines[4].startswith(f"— {log.origin} ") and text.endswith("\n")
    sig = base64.b64decode(lines[4].split(" ")[2])
    assert sig[:4] == key_id(log.origin, 0x01, log.verifier.public_key.public_bytes_raw()) and len(sig) == 68
    cp, body = open_checkpoint(data, log.verifier)
    assert (cp.origin, cp.size, cp.root, body) == (log.origin, 20852163, root, text[: text.index("\n\n") + 1])
    stranger = LogKey(Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="Expected a signature by a known key"):
        open_checkpoint(data, stranger.verifier)
    # re-signed by another key under the same name: the pinned key's ID does not match, nothing verifies
    forged = Checkpoint(log.origin, 1, root).body()
    with pytest.raises(NoteError, match="Expected a signature by a known key"):
        open_checkpoint(
            (forged + "\n" + sign_note(forged, log.origin, Ed25519PrivateKey.generate()).line()).encode(),
            log.verifier,
        )
    # the right key ID with a bad signature rejects the note
    bad = text.replace(lines[1], "20852164", 1)
    with pytest.raises(NoteError, match="Expected a valid signature"):
        open_checkpoint(bad.encode(), log.verifier)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("\n5\n" + "A" * 43 + "=\n", "non-empty origin"),
        ("o\n05\n" + "A" * 43 + "=\n", "without leading zeros"),
        ("o\n-5\n" + "A" * 43 + "=\n", "without leading zeros"),
        ("o\n5\nAAAA\n", "32-byte root hash"),
        ("o\n5\n", "at least three lines"),
        ("o\n5\n" + "A" * 43 + "=", "at least three lines"),
        ("o\n5\n" + "A" * 43 + "=\next\n\n", "non-empty extension lines"),
    ],
)
def test_a_checkpoint_body_is_parsed_by_the_tlog_checkpoint_rules(body, message):
    with pytest.raises(NoteError, match=message):
        Checkpoint.parse(body)


def test_a_checkpoint_with_extension_lines_and_the_empty_tree_parse():
    cp = Checkpoint.parse("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nx y\n")
    assert (cp.size, cp.extensions) == (20852163, ("x y",))
    assert Checkpoint.parse("o\n0\n" + base64.b64encode(hashlib.sha256(b"").digest()).decode() + "\n").size == 0


def test_a_witness_cosignature_is_timestamped_and_signs_the_cosignature_v1_message():
    log = LogKey(Ed25519PrivateKey.generate())
    _, body = open_checkpoint(log.sign(7, hashlib.sha256(b"r").digest()), log.verifier)
    w = WitnessKey("tullverket", Ed25519PrivateKey.generate())
    data = w.cosign(body, timestamp=1679315147)
    note = parse_note(data)
    sig = note.signatures[0]
    assert note.text == body and sig.name == "samband.local/witness/tullverket" and len(sig.signature) == 72
    assert sig.key_id == key_id(w.name, SIG_COSIGNATURE_V1, w.verifier.public_key.public_bytes_raw())
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    assert w.verifier.verify(b"cosignature/v1\ntime 1679315147\n" + body.encode(), sig.signature[8:])
    assert verify_cosignatures(data, body, [w.verifier]) == {w.name: 1679315147}
    assert verify_cosignatures(data, body, [WitnessKey("x", Ed25519PrivateKey.generate()).verifier]) == {}
    with pytest.raises(NoteError, match="over another text"):
        verify_cosignatures(data, body.replace("\n7\n", "\n8\n"), [w.verifier])
    assert Verifier.parse(w.verifier.vkey()).sig_type == SIG_COSIGNATURE_V1


def test_an_entry_says_what_it_is_and_where_it_stands_and_a_bundle_keeps_its_exact_bytes():
    import datetime as dt

    at = dt.datetime(2017, 3, 3, 20, 0, tzinfo=dt.UTC)
    rec = AuditRecord(
        at=at, envelope_id="e1", record_type="t", origin="polisen", recipient="tullverket", region="syd",
        operation="op", decision="allow", rule="r", policy_version="pv", ingest_seq=42,
    )  # fmt: skip
    data = encode_entry(rec, 7)
    assert data.startswith(b'{"kind":"decision","index":7,"ingest_seq":42,"at":')
    assert DECODER.decode(data) == msgspec.structs.replace(rec, index=7)
    inc = encode_entry(Incident(at=at, what="foreign-messages", detail="d", count=1, stream_seqs=(5,)), 8)
    assert isinstance(DECODER.decode(inc), Incident)
    header = BundleHeader(first=7, count=2, term=3, after=10, messages=4, ingest_high=42)
    bundle = encode_bundle(header, [data, inc])
    assert decode_bundle(bundle) == (header, [data, inc])
    with pytest.raises(BundleError, match="Expected 3 entries in the bundle, got 2"):
        decode_bundle(bundle.replace(b'"count":2', b'"count":3'))
    with pytest.raises(BundleError, match="Expected a bundle header on line 1"):
        decode_bundle(b"junk")


def test_leaf_hashes_carry_the_frontier_after_them():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    frontier = [hashlib.sha256(b"f").digest(), hashlib.sha256(b"g").digest()]  # size 5: popcount 2
    tile = decode_tree(encode_tree(2, leaves, frontier))
    assert (tile.first, tile.leaves, tile.frontier, tile.size) == (2, leaves, frontier, 5)
    with pytest.raises(BundleError, match="Expected 3 leaf hashes and a frontier of 2"):
        decode_tree(encode_tree(2, leaves, frontier[:1]))
    # a router batch's tile: a thousand leaf hashes, read in one call, each where it was written
    many = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1000)]
    after = [hashlib.sha256(bytes([k])).digest() for k in range((7 + 1000).bit_count())]
    tile = decode_tree(encode_tree(7, many, after))
    assert (tile.leaves, tile.frontier, tile.size) == (many, after, 1007)
