"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 ``cosignature/v1``) and witness keys.

A cosignature is a note signature line over a checkpoint: key ID SHA-256(name || 0x0A || 0x04 ||
key)[:4], then an 8-byte big-endian POSIX timestamp and the Ed25519 signature of::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text>

It says: at that time, the largest consistent tree this witness has seen of that log has that
root. Witness keys are made at setup, one per agency: ``<state>/witness/<agency>.key`` (PKCS#8
PEM, 0600, directory 0700; what `samband witness AGENCY` signs with) and its verifier key
``<state>/keys/witness-<agency>.vkey`` (what `samband audit verify --witnesses K` trusts).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._errors import AuditKeyError
from ._errors import NoteError
from ._note import SIG_COSIGNATURE_V1, NoteSignature, Verifier, format_note, key_id, parse_note, raw_public_key

__all__ = [
    "WitnessKey",
    "cosignature_message",
    "ensure_witness_key",
    "load_witness_key",
    "load_witness_verifiers",
    "verify_cosignatures",
    "vkey_path",
    "witness_name",
    "witness_of",
    "witness_state_path",
]


def witness_name(agency: str) -> str:
    return f"samband.local/witness/{agency}"


def witness_of(name: str) -> str:
    """The agency of a witness key name (the reverse of `witness_name`)."""
    return name.rsplit("/", 1)[-1]


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


class WitnessKey:
    """An agency's witness key: cosigns checkpoints."""

    def __init__(self, agency: str, key: Ed25519PrivateKey) -> None:
        self.agency = agency
        self.name = witness_name(agency)
        self.key = key
        self.verifier = Verifier(self.name, SIG_COSIGNATURE_V1, key.public_key())

    def cosign(self, body: str, timestamp: int | None = None) -> bytes:
        """The cosigned checkpoint: its text and this witness's signature line (a note of its own)."""
        t = int(time.time()) if timestamp is None else timestamp
        sig = t.to_bytes(8, "big") + self.key.sign(cosignature_message(body, t))
        kid = key_id(self.name, SIG_COSIGNATURE_V1, raw_public_key(self.key.public_key()))
        return format_note(body, [NoteSignature(self.name, kid, sig)])


def verify_cosignatures(data: bytes, body: str, verifiers: list[Verifier]) -> dict[str, int]:
    """The witnesses (name -> timestamp) whose cosignature in note ``data`` holds over checkpoint ``body``.

    Unknown keys are ignored; a known witness's signature that fails raises `NoteError`."""
    note = parse_note(data)
    if note.text != body:
        raise NoteError("Expected a cosignature over the checkpoint it is stored beside, got one over another text")
    good: dict[str, int] = {}
    for sig in note.signatures:
        for v in verifiers:
            if v.sig_type != SIG_COSIGNATURE_V1 or not v.matches(sig):
                continue
            if len(sig.signature) != 72:
                raise NoteError(
                    f"Expected a timestamp and a signature (72 bytes) from {v.name}, got {len(sig.signature)}"
                )
            t = int.from_bytes(sig.signature[:8], "big")
            if t >= 2**63 or not v.verify(cosignature_message(body, t), sig.signature[8:]):
                raise NoteError(f"Expected a valid cosignature from {v.name}, got a bad one")
            good[v.name] = t
    return good


def _key_path(state_dir: Path, agency: str) -> Path:
    return Path(state_dir) / "witness" / f"{agency}.key"


def vkey_path(keys_dir: Path, agency: str) -> Path:
    return Path(keys_dir) / f"witness-{agency}.vkey"


def ensure_witness_key(state_dir: Path, agency: str) -> str:
    """Make the agency's witness key if it has none (0600, in a 0700 directory); its verifier key."""
    path = _key_path(state_dir, agency)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
    key = load_witness_key(state_dir, agency)
    out = vkey_path(Path(state_dir) / "keys", agency)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(key.verifier.vkey() + "\n")
    return key.verifier.vkey()


def load_witness_key(state_dir: Path, agency: str) -> WitnessKey:
    path = _key_path(state_dir, agency)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise AuditKeyError(
            f"Expected the witness key of {agency} at {path}, could not read it: {exc.strerror}"
        ) from exc
    except ValueError as exc:
        raise AuditKeyError(f"Expected an Ed25519 private key (PEM) in {path}, could not read it: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditKeyError(f"Expected an Ed25519 private key in {path}, got {type(loaded).__name__}")
    return WitnessKey(agency, loaded)


def load_witness_verifiers(keys_dir: Path) -> list[Verifier]:
    """Every witness verifier key of the deployment (``<keys>/witness-*.vkey``), the pinned witnesses."""
    out = []
    for path in sorted(Path(keys_dir).glob("witness-*.vkey")):
        try:
            v = Verifier.parse(path.read_text())
        except NoteError as exc:
            raise AuditKeyError(f"{exc} - in {path}") from exc
        if v.sig_type != SIG_COSIGNATURE_V1:
            raise AuditKeyError(f"Expected a witness key (type 0x04) in {path}, got type 0x{v.sig_type:02x}")
        out.append(v)
    return out


def witness_state_path(state_dir: Path, agency: str) -> Path:
    """Where the agency's witness keeps the last checkpoint it cosigned (0600, beside its key)."""
    return Path(state_dir) / "witness" / f"{agency}.state"
