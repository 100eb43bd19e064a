"""nkey credentials: one seed file per identity, generated at set-up, written 0600, never committed."""

from __future__ import annotations

import os
from pathlib import Path

import nkeys

__all__ = ["ADMIN", "AUDITOR", "ROUTER", "SSO", "STEWARD", "Credentials"]

ROUTER, SSO, AUDITOR, ADMIN = "router", "sso", "auditor", "admin"
# The operators' identity in the router's account: creates and changes the router's streams
# (`provision`), which the router's own credentials may not do for the audit streams.
STEWARD = "steward"


class Credentials:
    """The seed files of a deployment, under ``<state>/creds``."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir) / "creds"

    def seed_path(self, identity: str) -> Path:
        return self.dir / f"{identity}.nk"

    def ensure(self, identity: str) -> str:
        """Create the identity's user nkey if missing; return its public key (``U...``)."""
        path = self.seed_path(identity)
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(seed)
        return self.public_key(identity)

    def public_key(self, identity: str) -> str:
        seed = bytearray(self.seed_path(identity).read_bytes().strip())
        return nkeys.from_seed(seed).public_key.decode()

    def revoke(self, identity: str) -> None:
        """Delete the identity's seed; the next render leaves it out and a reload disconnects it."""
        self.seed_path(identity).unlink(missing_ok=True)
