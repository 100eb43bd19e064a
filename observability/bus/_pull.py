"""Pull from a durable consumer (the router's input) without a timer per message or a round trip per batch.

nats-py's ``fetch`` waits for each message of a batch with its own ``wait_for`` and ends a
busy batch on a short expiry, so batches came out at half their size and the waiting was a
visible share of the router's time (samband bench profile). Here one pull request is kept
open at a time, its messages land in a buffer from one subscription callback, and the next
request is sent as soon as the last one is filled, so the server fills the buffer while the
router works on the previous batch (as nats.go's ``Consume`` does). The messages go into the
buffer straight from the client's parser (`_shim.route_msgs`), not through a queue and a task hop
each (docs/performance.md).

A request asks for at most ``batch`` messages *and* at most ``max_bytes`` bytes, so large records
never pile up in the server's buffer for this connection (it cuts a consumer that falls that far
behind as a slow consumer). The server ends a request that reached its bytes with a 409 status.
`FairPuller` (``_fair.py``) draws from several of these without blocking on any one
(`buffered`, `head_size`, `pop`, `request`).
"""

from __future__ import annotations

import asyncio
import time

import msgspec
import nats
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from .._logging import get_logger
from .._tally import Tally
from . import _shim

__all__ = ["Puller"]

log = get_logger("samband.bus")
_ENDED = Tally(log, "pull request ended by the server")

_REQUEST = msgspec.json.Encoder()
# Status answers that end a pull request: no messages (no_wait), expired, or the server gave up on it.
_ENDS = {"404", "408", "409"}
# How a request that was served in full ends (its batch, or its bytes): as asked, nothing to say.
_SERVED = frozenset({"Message Size Exceeds MaxBytes", "Batch Completed"})


class Puller:
    """Batches from a durable pull consumer; ``next_batch`` returns as soon as records are there."""

    def __init__(
        self,
        nc: nats.NATS,
        stream: str,
        durable: str,
        *,
        batch: int,
        idle: float = 0.5,
        max_bytes: int = 0,
        arrived: asyncio.Event | None = None,
        routed: bool = True,
    ) -> None:
        """``routed=False``: through a subscription callback even where `_shim.route_msgs` can be used
        (`samband bench shim` measures what it gains)."""
        self.nc = nc
        self.stream = stream
        self.batch = batch
        self.idle = idle  # how long one pull request waits on the server for records
        # bytes one request may bring (0: no bound); must exceed the stream's largest message,
        # whose request would otherwise end at once, every time
        self.max_bytes = max_bytes
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._sub: Subscription | None = None
        self._buf: list[Msg] = []
        self._head = 0  # index of the first message not yet taken (`pop` does not shift the list)
        self._arrived = arrived or asyncio.Event()
        self._owed = 0  # messages the open request may still deliver
        self._sent_at = 0.0  # when the open request was sent (it expires on the server ``idle`` later)
        self._routed = routed and _shim.can_route(nc)

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(
            self._inbox,
            cb=self._on_msg,
            pending_msgs_limit=4 * self.batch + 64,
            pending_bytes_limit=-1,
        )
        # Straight from the client's parser into the buffer (no queue and task hop per record);
        # where the shim cannot, through the subscription's callback: the same, slower.
        if self._routed:
            _shim.route_msgs(self.nc, self._sub, self._take)

    async def close(self) -> None:
        """Give back what was pulled and not routed, so the next router gets it at once.

        The open request may still deliver until it expires on the server; the subscription
        stays until then, so those records are given back too rather than waiting out the
        consumer's ack wait.
        """
        if self._sub is None:
            return
        try:
            wait = self._sent_at + self.idle - time.monotonic()
            if self._owed > 0 and wait > 0:
                await asyncio.sleep(min(wait + 0.05, self.idle + 0.05))
            buffered, self._buf = self._buf[self._head :], []
            self._head = 0
            for msg in buffered:
                await msg.nak()
            _shim.unroute(self.nc, self._sub)
            await self._sub.unsubscribe()
        except nats.errors.Error:
            pass
        self._sub = None

    async def _request(self) -> None:
        # A request that expires after delivering some records may end without a status
        # message, so its end is also known by the clock (a new one a little early is harmless).
        if self._owed > 0 and time.monotonic() < self._sent_at + self.idle * 0.9:
            return
        self._owed = self.batch
        self._sent_at = time.monotonic()
        # The request lingers on the server up to ``idle``, delivering records as they come.
        req = {"batch": self.batch, "expires": int(self.idle * 1e9)}
        if self.max_bytes:
            req["max_bytes"] = self.max_bytes
        await self.nc.publish(self._api, _REQUEST.encode(req), reply=self._inbox)

    async def request(self) -> None:
        """Have a pull request open (unless one is), so the server fills the buffer meanwhile."""
        if self._sub is not None:
            await self._request()

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._head

    def head_size(self) -> int:
        """The size of the next message's data (what routing it costs, roughly)."""
        return len(self._buf[self._head].data)

    def pop(self) -> Msg:
        """The next buffered message (call only while `buffered`)."""
        m = self._buf[self._head]
        self._head += 1
        if self._head == len(self._buf):
            self._buf, self._head = [], 0
        return m

    async def next_batch(self) -> list[Msg]:
        """The records waiting (at most ``batch``); empty after ``idle`` with nothing to route."""
        if not self.buffered:
            self._arrived.clear()
            await self._request()
            try:
                await asyncio.wait_for(self._arrived.wait(), self.idle + 0.1)
            except TimeoutError:
                return []
        # No lingering for a fuller batch: what arrives while one batch is routed makes the next
        # one, so batches grow with the load by themselves and a trickle is routed at once.
        h = self._head
        out, self._buf, self._head = self._buf[h : h + self.batch], self._buf[h + self.batch :], 0
        if not self._buf:
            await self._request()  # prefetch: the server fills the buffer while this batch is routed
        return out

    async def _on_msg(self, msg: Msg) -> None:
        self._take(msg)

    def _take(self, msg: Msg) -> None:
        hdr = msg.headers
        status = hdr.get("Status") if hdr else None
        if status is None:
            self._buf.append(msg)
            self._owed -= 1
            self._arrived.set()
        elif status in _ENDS:
            self._owed = 0
            if status == "409":
                description = hdr.get("Description", "") if hdr else ""
                if description not in _SERVED:
                    _ENDED.add(description, status=status, description=description)
            self._arrived.set()  # a waiting caller asks again at once rather than after its timeout
        # 100 (idle heartbeat) needs nothing
