"""Pulling from many durable consumers at once, fairly: deficit round robin by bytes.

The router has one input stream per agency (``INGEST_<agency>``, each with the agency's quota).
`FairPuller` keeps one `Puller` per stream, each with its own pull request open, and makes each
batch by visiting the streams with records waiting in turn (Shreedhar and Varghese's deficit
round robin): a stream's turn adds ``quantum`` bytes to its credit and it gives records while its
credit covers the next one; an emptied stream loses its credit. So one agency's backlog, however
large or however large its records, takes at most its turn: a record at the head of another
agency's stream is routed within one batch per agency with a backlog (docs/operating.md, "What one
agency can and cannot do to the others"). A batch holds at most ``batch`` records and
``batch_bytes`` bytes, and each pull request at most ``max_bytes``, so large records never pile up
in the server's buffer for the router's connection.
"""

from __future__ import annotations

import asyncio

import nats
from nats.aio.msg import Msg

from ._pull import Puller

__all__ = ["FairPuller"]

KIB, MIB = 1024, 1024**2


class FairPuller:
    """Batches drawn fairly from the durable consumers of several streams (one per key, e.g. per origin)."""

    def __init__(
        self,
        nc: nats.NATS,
        *,
        batch: int = 256,
        batch_bytes: int = 1 * MIB,
        quantum: int = 64 * KIB,
        idle: float = 0.5,
    ) -> None:
        self.nc = nc
        self.batch, self.batch_bytes, self.quantum, self.idle = batch, batch_bytes, quantum, idle
        self.pullers: dict[str, Puller] = {}
        self._ring: list[str] = []  # turn order; a new stream joins at the end
        self._next = 0  # whose turn starts the next batch
        self._resume = False  # the turn of ``_ring[_next]`` was cut short by a full batch: no new quantum
        self._credit: dict[str, int] = {}
        self._arrived = asyncio.Event()

    def __contains__(self, key: str) -> bool:
        return key in self.pullers

    async def add(self, key: str, stream: str, durable: str, *, max_msg_bytes: int) -> None:
        """Start pulling from ``durable`` on ``stream``; ``max_msg_bytes``: the stream's largest message."""
        if key in self.pullers:
            return
        # a request must be able to carry the largest message (with its subject and headers)
        max_bytes = max(1 * MIB, max_msg_bytes + 64 * KIB)
        p = Puller(
            self.nc, stream, durable, batch=self.batch, idle=self.idle, max_bytes=max_bytes, arrived=self._arrived
        )
        await p.start()
        self.pullers[key] = p
        self._ring.append(key)
        self._credit[key] = 0
        await p.request()

    async def remove(self, key: str) -> None:
        p = self.pullers.pop(key, None)
        if p is None:
            return
        i = self._ring.index(key)
        self._ring.pop(i)
        if i < self._next:
            self._next -= 1
        if self._next >= len(self._ring):
            self._next = 0
        self._resume = False
        self._credit.pop(key, None)
        await p.close()

    async def close(self) -> None:
        pullers, self.pullers = list(self.pullers.values()), {}
        self._ring.clear()
        await asyncio.gather(*(p.close() for p in pullers))

    @property
    def buffered(self) -> int:
        return sum(p.buffered for p in self.pullers.values())

    async def next_batch(self) -> list[Msg]:
        """The next fair batch; empty after ``idle`` with nothing to route anywhere."""
        pullers = self.pullers
        if not any(p.buffered for p in pullers.values()):
            self._arrived.clear()
            for p in pullers.values():
                await p.request()
            try:
                await asyncio.wait_for(self._arrived.wait(), self.idle + 0.1)
            except TimeoutError:
                return []
        out = self._take()
        # prefetch: every emptied stream asks again while this batch is routed
        for p in pullers.values():
            if not p.buffered:
                await p.request()
        return out

    def _take(self) -> list[Msg]:
        out: list[Msg] = []
        size = 0
        ring, credit, pullers = self._ring, self._credit, self.pullers
        n = len(ring)
        while n and any(p.buffered for p in pullers.values()):
            for _ in range(n):
                key = ring[self._next]
                p = pullers[key]
                if p.buffered:
                    if not self._resume:
                        credit[key] += self.quantum
                    self._resume = False
                    while p.buffered:
                        s = p.head_size()
                        if s > credit[key]:
                            break
                        if len(out) >= self.batch or (out and size + s > self.batch_bytes):
                            self._resume = True  # the batch is full in the middle of this turn: it goes on next time
                            return out
                        out.append(p.pop())
                        size += s
                        credit[key] -= s
                    if not p.buffered:
                        credit[key] = 0  # an emptied stream keeps no credit
                self._next = (self._next + 1) % n
        return out
