"""Signed notes (C2SP signed-note): text, a blank line, signature lines ``— <name> base64(key ID || sig)``.

Checkpoints (`_checkpoint.py`) and witness cosignatures (`_cosign.py`) are notes. A key is named
by ``(name, key ID)``, the key ID being SHA-256(name || 0x0A || type || public key)[:4]; a
verifier key is written ``<name>+<key ID hex>+<base64(type || public key)>`` (a "vkey"). As the
spec says: signatures from unknown keys are ignored, a known key whose signature fails rejects
the whole note, and a note no known key verified is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._errors import NoteError

__all__ = [
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Note",
    "NoteSignature",
    "Verifier",
    "format_note",
    "key_id",
    "open_note",
    "parse_note",
    "raw_public_key",
    "sign",
]

SIG_ED25519 = 0x01  # a log's own signature over the note text
SIG_COSIGNATURE_V1 = 0x04  # a witness's timestamped cosignature (C2SP tlog-cosignature)
MAX_SIGNATURES = 100  # the spec asks for at least 16; more is refused as a flood
_DASH = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII control characters other than newline


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4]


def _name_ok(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes  # what follows the key ID: 64 bytes for Ed25519, 8 + 64 for a cosignature

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str  # ends with a newline
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class Verifier:
    """A known key: who (``name``), of which kind (``sig_type``), and its public key."""

    name: str
    sig_type: int
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, raw_public_key(self.public_key))

    def vkey(self) -> str:
        body = base64.b64encode(bytes([self.sig_type]) + raw_public_key(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{body}"

    def matches(self, sig: NoteSignature) -> bool:
        return sig.name == self.name and sig.key_id == self.key_id

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """A verifier key ``<name>+<hex key ID>+<base64(type || key)>``; its key ID must be its own."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _name_ok(parts[0]) or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError(f"Expected a verifier key `<name>+<8 hex>+<base64>`, got {vkey.strip()[:80]!r}")
        name, hexid, body = parts
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise NoteError(f"Expected base64 key material in the verifier key for {name}, got {body[:60]!r}") from None
        if len(raw) != 33 or raw[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1):
            raise NoteError(
                f"Expected an Ed25519 verifier key (type 0x01 or 0x04, 32 bytes) for {name}, "
                f"got {len(raw) - 1} bytes of type 0x{raw[0]:02x}"
                if raw
                else f"Expected an Ed25519 verifier key for {name}, got no key material"
            )
        verifier = cls(name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != hexid:
            raise NoteError(f"Expected key ID {verifier.key_id.hex()} for the key of {name}, got {hexid}")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def sign(text: str, name: str, key: Ed25519PrivateKey) -> NoteSignature:
    """The log's Ed25519 signature (type 0x01) over ``text``."""
    public = raw_public_key(key.public_key())
    return NoteSignature(name, key_id(name, SIG_ED25519, public), key.sign(text.encode()))


def format_note(text: str, signatures: list[NoteSignature] | tuple[NoteSignature, ...]) -> bytes:
    if not text.endswith("\n"):
        raise NoteError("Expected note text ending in a newline")
    return (text + "\n" + "".join(s.line() for s in signatures)).encode()


def parse_note(data: bytes) -> Note:
    """The text and signature lines of a note, by the format's rules; nothing is verified here."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("Expected a note in UTF-8, got bytes that are not") from None
    if _CONTROL.search(s):
        raise NoteError("Expected a note without control characters other than newline")
    if not s.endswith("\n"):
        raise NoteError("Expected a note ending in a newline")
    cut = s.rfind("\n\n")
    if cut < 0:
        raise NoteError("Expected a blank line between the note text and its signatures, got none")
    text, sig_lines = s[: cut + 1], s[cut + 2 :].splitlines()
    if not sig_lines:
        raise NoteError("Expected at least one signature line, got none")
    if len(sig_lines) > MAX_SIGNATURES:
        raise NoteError(f"Expected at most {MAX_SIGNATURES} signatures, got {len(sig_lines)}")
    sigs = []
    for line in sig_lines:
        if not line.startswith(_DASH):
            raise NoteError(f"Expected a signature line `— <name> <base64>`, got {line[:60]!r}")
        name, _, b64 = line[len(_DASH) :].partition(" ")
        if not _name_ok(name) or not b64 or " " in b64:
            raise NoteError(f"Expected a signature line `— <name> <base64>`, got {line[:60]!r}")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise NoteError(f"Expected base64 in the signature of {name}, got {b64[:40]!r}") from None
        if len(raw) < 5:
            raise NoteError(f"Expected a key ID and a signature from {name}, got {len(raw)} bytes")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(sigs))


def open_note(data: bytes, verifiers: list[Verifier] | tuple[Verifier, ...]) -> tuple[Note, list[Verifier]]:
    """The note and the known keys whose Ed25519 signature (type 0x01) over its text holds.

    Raises `NoteError` when a known key's signature fails, or when no known key signed it."""
    note = parse_note(data)
    good: list[Verifier] = []
    for sig in note.signatures:
        for v in verifiers:
            if v.sig_type == SIG_ED25519 and v.matches(sig):
                if not v.verify(note.text.encode(), sig.signature):
                    raise NoteError(f"Expected a valid signature from {v.name} (key {v.key_id.hex()}), got a bad one")
                if v not in good:
                    good.append(v)
    if not good:
        names = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in note.signatures)
        raise NoteError(f"Expected a signature by a known key, got only {names}")
    return note, good
