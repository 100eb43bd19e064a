"""Checkpoints: the log's signed tree heads, as C2SP tlog-checkpoint notes signed with Ed25519.

The note text is three lines, the **origin** (the log's name), the **tree size** (ASCII decimal,
no leading zeros) and the **root hash** (base64 of 32 bytes), each ending in a newline; the
log's signature line follows the blank line. The origin is also the key's name, and it is
made from the public key (`origin_of`), so a pinned key pins the origin too.

Keys: ``<state>/keys/audit-signing.key`` (PKCS#8 PEM, 0600), its public half as PEM
(``audit-signing.pub``) and as a C2SP verifier key (``audit-signing.vkey``), both meant to be
handed to whoever verifies the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._errors import AuditKeyError
from ._errors import NoteError
from ._note import SIG_ED25519, Verifier, format_note, open_note, raw_public_key, sign

__all__ = [
    "PUBLIC_KEY_FILE",
    "SIGNING_KEY_FILE",
    "VKEY_FILE",
    "Checkpoint",
    "LogKey",
    "load_or_create_signing_key",
    "load_public_key",
    "load_verifier",
    "open_checkpoint",
    "origin_of",
    "public_key_pem",
]

SIGNING_KEY_FILE = "audit-signing.key"
PUBLIC_KEY_FILE = "audit-signing.pub"
VKEY_FILE = "audit-signing.vkey"
_SIZE = re.compile(r"0|[1-9][0-9]*")


def origin_of(key: Ed25519PublicKey) -> str:
    """The log's origin line: the deployment's log, named after its key (no spaces, no `+`)."""
    return f"samband.local/audit/{hashlib.sha256(raw_public_key(key)).hexdigest()[:16]}"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: ``size`` leaves with ``root``, by the log ``origin`` (extension lines kept as read)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The note text of a checkpoint, by tlog-checkpoint's rules."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError(
                "Expected a checkpoint of at least three lines (origin, size, root), each ending in a newline"
            )
        origin, size, root, *ext = lines[:-1]
        if not origin:
            raise NoteError("Expected a non-empty origin on line 1 of the checkpoint")
        if not _SIZE.fullmatch(size):
            raise NoteError(f"Expected a tree size in decimal without leading zeros on line 2, got {size[:30]!r}")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            raise NoteError(f"Expected the base64 of a 32-byte root hash on line 3, got {root[:60]!r}")
        if any(not line for line in ext):
            raise NoteError("Expected non-empty extension lines after the root hash")
        return cls(origin, int(size), raw, tuple(ext))

    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()

    def __str__(self) -> str:
        return f"size {self.size}, root {self.root_b64()}"


class LogKey:
    """The log's signing key and its verifier (the origin is its name)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.origin = origin_of(key.public_key())
        self.verifier = Verifier(self.origin, SIG_ED25519, key.public_key())

    def sign(self, size: int, root: bytes) -> bytes:
        """A checkpoint note for ``size`` and ``root``, signed."""
        body = Checkpoint(self.origin, size, root).body()
        return format_note(body, [sign(body, self.origin, self.key)])


def open_checkpoint(data: bytes, verifier: Verifier) -> tuple[Checkpoint, str]:
    """The checkpoint in ``data`` if ``verifier`` (the pinned log key) signed it, and its note text.

    Raises `NoteError` saying what is wrong: unreadable, not signed by this key, a bad signature,
    or a checkpoint of another log (its origin is not the key's name)."""
    note, _ = open_note(data, [verifier])
    cp = Checkpoint.parse(note.text)
    if cp.origin != verifier.name:
        raise NoteError(f"Expected a checkpoint of log `{verifier.name}`, got one of `{cp.origin}`")
    return cp, note.text


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_new(path: Path, data: bytes, mode: int) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False  # another process made it first: theirs is read
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def load_or_create_signing_key(keys_dir: Path) -> LogKey:
    """The deployment's log key (PKCS#8 PEM, 0600), created with its public halves on first use."""
    keys_dir = Path(keys_dir)
    path = keys_dir / SIGNING_KEY_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_new(path, pem, 0o600)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"Expected an Ed25519 private key (PEM) in {path}, could not read it: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditKeyError(f"Expected an Ed25519 private key in {path}, got {type(loaded).__name__}")
    log_key = LogKey(loaded)
    if not (keys_dir / PUBLIC_KEY_FILE).exists():
        (keys_dir / PUBLIC_KEY_FILE).write_bytes(public_key_pem(loaded.public_key()))
    if not (keys_dir / VKEY_FILE).exists():
        (keys_dir / VKEY_FILE).write_text(log_key.verifier.vkey() + "\n")
    return log_key


def load_public_key(data: bytes | str | Path) -> Ed25519PublicKey:
    """A public key from PEM bytes/text or a PEM file."""
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


def load_verifier(path: Path) -> Verifier:
    """The log's verifier from a file: a C2SP verifier key (``name+id+base64``) or a PEM public key."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"Expected the log's public key at {path}, could not read it: {exc.strerror}") from exc
    if text.lstrip().startswith(b"-----BEGIN"):
        key = load_public_key(text)
        return Verifier(origin_of(key), SIG_ED25519, key)
    try:
        v = Verifier.parse(text.decode("utf-8", "replace"))
    except NoteError as exc:
        raise AuditKeyError(f"{exc} - in {path}") from exc
    if v.sig_type != SIG_ED25519:
        raise AuditKeyError(f"Expected the log's key (type 0x01) in {path}, got a witness key (type 0x04)")
    return v
