"""Signed checkpoints over the audit chain: (sequence, chain head, time), Ed25519.

A checkpoint says "the record with this sequence hashes to this head", signed by the
deployment's checkpoint key. Anyone with the public key can check a trail offline: a
rewritten chain no longer meets its signed heads, a truncated one misses its last ones.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from samband.schemas import Schema

from .._errors import AuditKeyError

__all__ = [
    "CHECKPOINT_DECODER",
    "PUBLIC_KEY_FILE",
    "SIGNING_KEY_FILE",
    "Checkpoint",
    "checkpoint_signature_ok",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "public_key_pem",
    "sign_checkpoint",
]

SIGNING_KEY_FILE = "audit-signing.key"
PUBLIC_KEY_FILE = "audit-signing.pub"
_DOMAIN = "samband-audit-checkpoint/1"


class Checkpoint(Schema, frozen=True, omit_defaults=False, kw_only=True):
    """``head`` is the sha256 (hex) of the exact bytes of the record with sequence ``seq``."""

    seq: int
    head: str
    at: _dt.datetime
    key_id: str
    signature: str


CHECKPOINT_DECODER = msgspec.json.Decoder(Checkpoint)
_encode = msgspec.json.Encoder().encode


def _signed_bytes(seq: int, head: str, at: _dt.datetime) -> bytes:
    # A domain tag so a signature over a checkpoint can never be replayed as anything else.
    return _encode([_DOMAIN, seq, head, at])


def load_or_create_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The deployment's checkpoint key (PKCS#8 PEM, 0600), created with its public half on first use."""
    path = Path(keys_dir) / SIGNING_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            (path.parent / PUBLIC_KEY_FILE).write_bytes(public_key_pem(key.public_key()))
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"Expected an Ed25519 private key (PEM) in {path}, could not read it: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditKeyError(f"Expected an Ed25519 private key in {path}, got {type(loaded).__name__}")
    key = loaded
    pub = path.parent / PUBLIC_KEY_FILE
    if not pub.exists():
        pub.write_bytes(public_key_pem(key.public_key()))
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: bytes | str | Path) -> Ed25519PublicKey:
    """A public key from PEM bytes/text or from a PEM file."""
    try:
        if isinstance(data, Path):
            data = data.read_bytes()
        if isinstance(data, str):
            data = data.encode()
        key = serialization.load_pem_public_key(data)
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"Expected an Ed25519 public key (PEM), could not read it: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"Expected an Ed25519 public key, got {type(key).__name__}")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head: str, at: _dt.datetime | None = None) -> Checkpoint:
    at = at or _dt.datetime.now(_dt.UTC)
    sig = key.sign(_signed_bytes(seq, head, at))
    return Checkpoint(seq=seq, head=head, at=at, key_id=key_id(key.public_key()), signature=sig.hex())


def checkpoint_signature_ok(cp: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(bytes.fromhex(cp.signature), _signed_bytes(cp.seq, cp.head, cp.at))
    except (InvalidSignature, ValueError):
        return False
    return True
