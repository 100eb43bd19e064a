"""One live deployment per state directory, and ports that are free before a server is started.

The lock is ``<state>/samband.lock``: an exclusive `flock` held for as long as the deployment's
nats-server runs, with the holder's pid written in it for the message a second `samband up`
prints. The kernel releases a `flock` when its holder dies, however it dies, so a lock left by a
dead process is taken over without anyone deleting anything (the pid in it is only a hint).
Configuration changes queue on ``<state>/.config.lock`` (`_config_lock`), one at a time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path

from ._errors import DeploymentInUse, PortInUse

__all__ = ["LOCK_FILE", "StateLock", "check_ports_free", "pid_alive"]

LOCK_FILE = "samband.lock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateLock:
    """The exclusive lock on a state directory (see the module docstring)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> StateLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise DeploymentInUse(
                f"Expected the state directory {self.path.parent} to be free, got it in use by a running "
                f"deployment (pid {holder or '?'}): stop that one first (`kill -TERM {holder or 'PID'}`), "
                "or give this one its own --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock


def check_ports_free(ports: dict[str, int], *, host: str = "127.0.0.1", pid_file: Path | None = None) -> None:
    """Refuse, naming the port and the option, when something already listens on one of ``ports``."""
    for option, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # SO_REUSEADDR, as nats-server binds: a port in TIME_WAIT from a server just stopped is free
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                pass
            else:
                continue
        who = "another `samband up` or nats-server"
        if pid_file is not None:
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                if pid_alive(pid):
                    who = f"perhaps the nats-server (pid {pid}) an earlier `samband up` left running ({pid_file})"
        raise PortInUse(
            f"Expected port {port} on {host} to be free for the nats-server, got it in use ({who}): "
            f"stop what listens there, or choose another with {option}"
        )


@contextlib.contextmanager
def _config_lock(state_dir: Path):
    """One configuration change at a time per state directory (two `samband onboard` at once queue up)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".config.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
