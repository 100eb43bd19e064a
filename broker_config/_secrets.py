"""Files that only the platform's own user may read: credentials, keys, configs, logs and state.

A deployment's state directory holds nkey seeds, TLS keys, the pseudonym key, the rendered
config (every identity's public key and permissions), the server's log (subjects and client
addresses) and the records delivered into sinks: directories 0700, files 0600, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["private_dir", "private_file", "write_private"]


def private_dir(path: Path) -> Path:
    """``path`` (and missing parents) as a directory only its owner may enter."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` created if missing (empty) and made owner-only; its content is kept."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file, owner-only from the first byte, then rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
