"""Running the console: connect first (a refused identity stops here with the broker's reason), then serve."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from samband.observability import get_logger

from ._app import ConsoleConfig, create_app
from ._charts import warm_up

__all__ = ["serve"]

log = get_logger("samband.console")


class _Server(uvicorn.Server):
    """uvicorn's server with SIGINT/SIGTERM meaning a clean stop (exit 0): uvicorn re-raises the signal it
    caught once it has shut down, which would end the process by that signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        self.should_exit = True


def listening_socket(host: str) -> socket.socket:
    """A socket for the console; TCP_NODELAY (inherited by each connection): a page written in two parts
    waited 40 ms for the browser's delayed ack otherwise (`samband bench console`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def serve(
    state_dir: Path,
    identity: str,
    *,
    host: str,
    port: int,
    lang: str,
    traces_url: str | None,
    interval: _dt.timedelta,
) -> None:
    config = ConsoleConfig(
        state_dir=Path(state_dir),
        identity=identity,
        host=host,
        port=port,
        lang=lang,
        traces_url=traces_url,
        checkpoint_interval=interval,
    )
    app = create_app(config)
    backend = app.state.backend
    await backend.start()
    warm_up()
    sock = listening_socket(host)
    try:
        sock.bind((host, port))
        sock.listen(128)  # before the link is printed: whoever opens it at once is answered
    except OSError as exc:
        await backend.close()
        raise OSError(exc.errno, f"Expected to listen on {host}:{port}, got: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    config.port = bound
    shown = f"[{host}]" if ":" in host else host
    print(f"samband console for {identity}: http://{shown}:{bound}/login?token={config.token}", flush=True)
    print("Ctrl-C stops it. Every person search and export made in it is written to the audit log.", flush=True)
    settings = uvicorn.Config(
        app, access_log=False, log_config=None, lifespan="on", server_header=False, timeout_graceful_shutdown=3
    )
    server = _Server(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop)
    try:
        await server.serve(sockets=[sock])
    finally:
        await backend.close()
        sys.stdout.flush()
