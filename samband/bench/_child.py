"""A bench process of its own: ``python -m MODULE ARGS``, ready when it prints ``ready``, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

__all__ = ["BenchProcess", "BenchProcessFailed"]

READY_WITHIN = 60.0  # seconds a process may take to print `ready`
STOP_WITHIN = 60.0


class BenchProcessFailed(click.ClickException):
    """A bench process ended, stayed silent or said something else before `ready` (shown by the CLI as
    ``Error: ...``, not as a traceback)."""


class BenchProcess:
    """``async with``: started and ready inside, stopped on the way out; ``output`` is its stdout after
    `ready`, ``errors`` its stderr. One that ends or stays silent before `ready` raises
    `BenchProcessFailed` naming what it is, what it printed and the last line of its stderr (its
    error, without the traceback above it), rather than leaving the bench waiting."""

    def __init__(self, module: str, *args: str, what: str) -> None:
        self.module, self.args, self.what = module, args, what
        self.proc: asyncio.subprocess.Process | None = None
        self.output = b""
        self.errors = b""

    @property
    def pid(self) -> int:
        assert self.proc is not None, "started in __aenter__"
        return self.proc.pid

    async def __aenter__(self) -> BenchProcess:
        self.proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None  # both piped above
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_WITHIN)
        except TimeoutError:
            line = b"(nothing within %d s)" % READY_WITHIN
        if line.strip() != b"ready":
            if proc.returncode is None:
                proc.kill()
            err = (await proc.stderr.read()).decode(errors="replace").strip().splitlines()
            await proc.wait()
            said = err[-1].strip() if err else f"nothing on stderr, exit status {proc.returncode}"
            raise BenchProcessFailed(f"Expected `ready` from the {self.what} process, got {line.strip()!r}: {said}")
        return self

    async def __aexit__(self, *exc) -> None:
        proc = self.proc
        assert proc is not None, "started in __aenter__"
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            self.output, self.errors = await asyncio.wait_for(proc.communicate(), STOP_WITHIN)
        except TimeoutError:
            proc.kill()
            self.output, self.errors = await proc.communicate()
