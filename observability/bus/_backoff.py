"""Waiting between retries: exponential, capped, and cut short when the caller is stopping."""

from __future__ import annotations

import asyncio

__all__ = ["Backoff"]


class Backoff:
    """Delays ``first``, ``first * factor``, ... up to ``cap`` seconds; `reset` after a success."""

    __slots__ = ("cap", "delay", "factor", "first")

    def __init__(self, first: float = 0.2, cap: float = 5.0, factor: float = 2.0) -> None:
        self.first, self.cap, self.factor = first, cap, factor
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    def next(self) -> float:
        """The delay to wait now; the one after it grows."""
        delay = self.delay
        self.delay = min(delay * self.factor, self.cap)
        return delay

    async def wait(self, stop: asyncio.Event) -> bool:
        """Wait the next delay, or less if ``stop`` is set meanwhile; True when stopping."""
        if stop.is_set():
            return True
        try:
            await asyncio.wait_for(stop.wait(), self.next())
        except TimeoutError:
            return False
        return True
