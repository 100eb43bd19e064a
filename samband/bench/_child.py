"""A bench process of its own: ``python -m MODULE ARGS``, ready when it prints ``ready``, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

__all__ = ["BenchProcess"]

READY_WITHIN = 60.0  # seconds a process may take to print `ready`
STOP_WITHIN = 60.0


class BenchProcess:
    """``async with``: started and ready inside, stopped on the way out; ``output`` is its stdout after
    `ready`, ``errors`` its stderr. One that ends or stays silent before `ready` raises `RuntimeError`
    naming what it is and what it said, rather than leaving the bench waiting."""

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
            err = await proc.stderr.read()
            await proc.wait()
            raise RuntimeError(
                f"Expected `ready` from the {self.what} process, got {line.strip()!r}: "
                f"{err.decode(errors='replace')[-2000:]}"
            )
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
