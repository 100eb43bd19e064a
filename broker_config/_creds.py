"""nkey credentials: one seed file per identity, generated at set-up, written 0600, never committed.

Runtime identities live in ``<state>/creds``. The audit admin's seed (`AUDIT_ADMIN`, the only
identity that may create or change the audit streams) is kept apart: in ``<state>/admin`` by
default, or wherever ``SAMBAND_ADMIN_DIR`` points (an operator moves it off the host after
set-up); its public key stays in ``<state>/creds/audit-admin.pub`` so the server configuration
can be rendered without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import nkeys

from samband.schemas.layout import AUDIT_ADMIN, OVERSIGHT

__all__ = ["ADMIN", "AUDITOR", "AUDIT_ADMIN", "KEPT_APART", "ROUTER", "SSO", "STEWARD", "Credentials"]

ROUTER, SSO, ADMIN = "router", "sso", "admin"
AUDITOR = OVERSIGHT  # reads the whole audit log
# The operators' identity in the router's account: creates and changes the router's streams
# (`provision`) but for the audit log's, which only the audit admin may.
STEWARD = "steward"
KEPT_APART = frozenset({AUDIT_ADMIN})


class Credentials:
    """The seed files of a deployment, under ``<state>/creds`` (and the admin's, apart)."""

    def __init__(self, state_dir: Path, admin_dir: Path | None = None) -> None:
        self.dir = Path(state_dir) / "creds"
        env = os.environ.get("SAMBAND_ADMIN_DIR")
        self.admin_dir = Path(admin_dir or env or Path(state_dir) / "admin")

    def seed_path(self, identity: str) -> Path:
        return (self.admin_dir if identity in KEPT_APART else self.dir) / f"{identity}.nk"

    def _public_file(self, identity: str) -> Path:
        return self.dir / f"{identity}.pub"

    def ensure(self, identity: str) -> str:
        """Create the identity's user nkey if missing; return its public key (``U...``)."""
        path = self.seed_path(identity)
        if identity in KEPT_APART and not path.exists() and self._public_file(identity).exists():
            return self._public_file(identity).read_text().strip()  # the seed is kept elsewhere
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(seed)
        public = self.public_key(identity)
        if identity in KEPT_APART and not self._public_file(identity).exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._public_file(identity).write_text(public + "\n")
        return public

    def public_key(self, identity: str) -> str:
        seed = bytearray(self.seed_path(identity).read_bytes().strip())
        return nkeys.from_seed(seed).public_key.decode()

    def has_seed(self, identity: str) -> bool:
        return self.seed_path(identity).exists()

    def revoke(self, identity: str) -> None:
        """Delete the identity's seed; the next render leaves it out and a reload disconnects it."""
        self.seed_path(identity).unlink(missing_ok=True)
