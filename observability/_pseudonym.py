"""Keyed pseudonyms: HMAC-SHA256 of the canonical identifier under a deployment key."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from ._errors import AuditKeyError

__all__ = ["Pseudonymiser", "load_or_create_key"]


def load_or_create_key(path: Path, *, size: int = 32) -> bytes:
    """Read a secret key file, creating it (0600) with random bytes if it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(size).hex().encode())
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"Expected a hex key in {path}, could not read it: {exc}") from exc


class Pseudonymiser:
    """Maps a canonical identifier to a stable pseudonym ``p:<32 hex>``; the same for the router and the auditor."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, canonical: str) -> str:
        return "p:" + hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()[:32]
