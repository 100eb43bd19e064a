"""The councils that govern the bus, their Ed25519 keys, and how a decision message is signed.

Eight councils decide: the seven regional councils (``rsr-nord`` ... ``rsr-syd``, each for its
region) and Operativa rådet (``operativa-radet``, for ``national``). A decision travels on
``decisions.<kind>.<id>`` as an `Envelope` (a ``council.operation_decision`` or
``council.cooption_decision``) whose exact bytes are signed; two headers carry the signature::

    Samband-Council:   rsr-syd
    Samband-Signature: ed25519:<base64 of the 64-byte signature>

The signature covers ``samband-decision/1`` NL council NL body, so it cannot be replayed as
another council's or as another kind of signed message (e.g. an audit checkpoint).

Keys on disk (made at set-up by `create_council_keys`, e.g. by ``samband up``)::

    <state>/councils/<council>.key     private, PKCS#8 PEM, 0600, in a 0700 directory
    <state>/trust/councils.toml        the public keys the router trusts (what it reads)

In production each private key lives with its council's secretariat only, never on the
router's host (docs/governance.md).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from samband.observability import create_key_file
from samband.schemas import REGIONS

from ._errors import CouncilKeyError

__all__ = [
    "COUNCILS",
    "COUNCIL_HEADER",
    "PRIVATE_DIR",
    "SIGNATURE_HEADER",
    "TRUST_FILE",
    "CouncilKeys",
    "council_for",
    "create_council_keys",
    "load_private_key",
    "sign_decision",
]

# council id -> the one scope it decides for
COUNCILS: dict[str, str] = {
    **{f"rsr-{r}": r for r in REGIONS if r != "national"},
    "operativa-radet": "national",
}
COUNCIL_HEADER = "Samband-Council"
SIGNATURE_HEADER = "Samband-Signature"
PRIVATE_DIR = "councils"
TRUST_FILE = Path("trust") / "councils.toml"
_DOMAIN = b"samband-decision/1\n"
_PREFIX = "ed25519:"


def council_for(scope: str) -> str:
    """The council that decides for ``scope`` (a region or ``national``)."""
    return "operativa-radet" if scope == "national" else f"rsr-{scope}"


def _signed_bytes(council: str, body: bytes) -> bytes:
    return _DOMAIN + council.encode() + b"\n" + body


def sign_decision(key: Ed25519PrivateKey, council: str, body: bytes) -> dict[str, str]:
    """The headers that carry ``council``'s signature over ``body`` (the decision envelope's bytes)."""
    signature = base64.b64encode(key.sign(_signed_bytes(council, body))).decode()
    return {COUNCIL_HEADER: council, SIGNATURE_HEADER: _PREFIX + signature}


class _TrustedKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    public_key: str  # base64 of the raw 32-byte Ed25519 public key


class _TrustFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    councils: dict[str, _TrustedKey] = {}


class CouncilKeys:
    """The councils' public keys the router trusts; `verify` answers for one decision message."""

    def __init__(self, keys: dict[str, Ed25519PublicKey] | None = None, *, source: str = "none trusted") -> None:
        self.keys = dict(keys or {})
        self.source = source

    @classmethod
    def load(cls, path: Path | str) -> CouncilKeys:
        """Read a trust file; an error names the file, the key and the value."""
        path = Path(path)
        try:
            data = msgspec.toml.decode(path.read_bytes(), type=_TrustFile)
        except OSError as exc:
            raise CouncilKeyError(
                f"{path}: Expected the councils' public keys (a readable file), got {exc.strerror}"
            ) from exc
        except msgspec.DecodeError as exc:  # ValidationError included: msgspec's message names the key
            raise CouncilKeyError(f"{path}: {exc}") from exc
        keys = {}
        for council, entry in data.councils.items():
            where = f"$.councils.{council}"
            if council not in COUNCILS:
                raise CouncilKeyError(
                    f"{path}: Expected a council ({', '.join(COUNCILS)}), got `{council}` - at `{where}`"
                )
            try:
                raw = base64.b64decode(entry.public_key, validate=True)
                keys[council] = Ed25519PublicKey.from_public_bytes(raw)
            except (binascii.Error, ValueError):
                raise CouncilKeyError(
                    f"{path}: Expected the base64 of a 32-byte Ed25519 public key, got `{entry.public_key[:60]}` "
                    f"- at `{where}.public_key`"
                ) from None
        return cls(keys, source=str(path))

    @classmethod
    def of_state(cls, state_dir: Path | str) -> CouncilKeys:
        """The trust file of a deployment, or no trusted keys (every decision refused) when it has none."""
        path = Path(state_dir) / TRUST_FILE
        return cls.load(path) if path.exists() else cls(source=f"none trusted: no {path}")

    def verify(self, council: str, body: bytes, signature: str) -> str | None:
        """None when ``signature`` is ``council``'s over ``body``; otherwise why not, in the house's shape."""
        key = self.keys.get(council)
        if key is None:
            return f"Expected a council whose public key the router trusts ({self.source}), got `{council}`"
        if not signature.startswith(_PREFIX):
            return f"Expected `{SIGNATURE_HEADER}` as ed25519:<base64>, got `{signature[:40]}`"
        try:
            raw = base64.b64decode(signature[len(_PREFIX) :], validate=True)
        except binascii.Error:
            return f"Expected `{SIGNATURE_HEADER}` as ed25519:<base64>, got `{signature[:40]}`"
        if len(raw) != 64:
            return f"Expected a 64-byte Ed25519 signature, got {len(raw)} bytes - at header `{SIGNATURE_HEADER}`"
        try:
            key.verify(raw, _signed_bytes(council, body))
        except InvalidSignature:
            return (
                f"Expected a valid signature of {council} over the decision, got one that does not verify "
                "(the message was altered after signing, or signed with another key)"
            )
        return None

    def public_text(self, council: str) -> str:
        return base64.b64encode(self.keys[council].public_bytes_raw()).decode()


def _private_path(key_dir: Path, council: str) -> Path:
    return key_dir / f"{council}.key"


def load_private_key(key_dir: Path | str, council: str) -> Ed25519PrivateKey:
    """A council's private key from ``key_dir`` (its secretariat's copy)."""
    if council not in COUNCILS:
        raise CouncilKeyError(f"Expected a council ({', '.join(COUNCILS)}), got `{council}`")
    path = _private_path(Path(key_dir), council)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise CouncilKeyError(
            f"Expected {council}'s private key at {path}, got no such file (a council's key lives with its "
            "secretariat; point --key-dir at it)"
        ) from None
    except (OSError, ValueError) as exc:
        raise CouncilKeyError(f"Expected an Ed25519 private key (PEM) at {path}, got {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CouncilKeyError(f"Expected an Ed25519 private key at {path}, got {type(key).__name__}")
    return key


def create_council_keys(state_dir: Path | str) -> CouncilKeys:
    """At set-up: make each council's key pair (private 0600 in a 0700 directory) and write the trust
    file with every public key. A deployment that already has a trust file keeps it untouched (in
    production it holds the councils' own public keys and the host holds no private key)."""
    state_dir = Path(state_dir)
    if (state_dir / TRUST_FILE).exists():
        return CouncilKeys.load(state_dir / TRUST_FILE)
    key_dir = state_dir / PRIVATE_DIR
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    public: dict[str, Ed25519PublicKey] = {}
    for council in COUNCILS:
        path = _private_path(key_dir, council)
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            create_key_file(path, pem)  # another process may have made it first: then theirs is used
        public[council] = load_private_key(key_dir, council).public_key()
    trust = state_dir / TRUST_FILE
    trust.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# The councils' public keys: the router accepts a decision only when one of these verifies it\n"
        "# and the council's scope covers it. Written by `samband up`; in production, by whoever\n"
        "# receives each council's public key from its secretariat (docs/governance.md).\n"
        + "".join(
            f'\n[councils.{c}]\npublic_key = "{base64.b64encode(k.public_bytes_raw()).decode()}"\n'
            for c, k in public.items()
        )
    )
    candidate = trust.with_suffix(".toml.new")
    candidate.write_text(text)
    candidate.replace(trust)
    return CouncilKeys(public, source=str(trust))
