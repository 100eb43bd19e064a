"""The checkpointer: signs (seq, head, time) of the audit chain every N records or T seconds.

It tails AUDIT with its own consumer, checks the chain as it reads from the last signed
checkpoint on, and never signs a chain that does not hold together: it says so in its log and
stops signing instead.

Beside the router (one process, `Platform`) it is fed instead: after each acknowledged
append the router tells it (first seq, its prev, last seq, head) with `appended`. Reading back
every record the router has just written cost the router's process a quarter of its CPU
(`samband bench`). A feed that does not continue exactly where the checkpointer stands (a
router restarted after records it never signed, or a trail that moved under the router)
turns the tail on again from the last record checked; once the tail has caught up with the
feed, it is turned off again. Either way every record was chained by the checkpointer or
appended by the router right after the one the checkpointer last checked, with the server
enforcing the expected last sequence.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas.layout import AUDIT_CHECKPOINT_STREAM as CHECKPOINT_STREAM
from samband.schemas.layout import AUDIT_CHECKPOINT_SUBJECT as CHECKPOINT_SUBJECT
from samband.schemas.layout import AUDIT_STREAM, AUDIT_SUBJECT

from .._logging import get_logger
from ._checkpoint import CHECKPOINT_DECODER, sign_checkpoint
from ._record import GENESIS, PREV_SLICE
from ._verify import record_seq

__all__ = ["Checkpointer"]

log = get_logger("samband.audit.checkpointer")


class Checkpointer:
    def __init__(self, nc, key: Ed25519PrivateKey, *, every: int = 1000, interval: float = 10.0) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.key = key
        self.every = every
        self.interval = interval
        self.seq = 0  # last record read
        self.head = GENESIS
        self.signed_seq = 0  # last record covered by a stored checkpoint
        self.signed = 0  # checkpoints stored by this run
        self.broken: str | None = None
        self._last_signed_at = time.monotonic()
        self._lock = asyncio.Lock()
        self.fed = False  # the router feeds it (`appended`); the tail runs only to catch up
        self.tailing = False
        self._tail_wanted = asyncio.Event()
        self._queue: list[tuple[int, str]] = []  # (seq, head) to sign, from the feed
        self._queued_seq = 0
        self._signer: asyncio.Task | None = None
        self._fed_upto = (0, GENESIS)  # the router's last append the tail has to reach
        self.resumed = asyncio.Event()  # set once it knows the last signed checkpoint

    def appended(self, records: Sequence[bytes], head: str) -> None:
        """The router's acknowledged appends, in order (exact stored bytes); ``head`` is the last one's hash."""
        self.fed = True
        if self.broken or not records:
            return
        first = record_seq(records[0])
        last = first + len(records) - 1
        if first != self.seq + 1 or records[0][PREV_SLICE] != self.head.encode():
            # Not where it stands: the tail reads (and checks) up to here, then the feed takes over.
            self._fed_upto = (last, head)
            if last > self.seq:
                self._tail_wanted.set()
            else:
                self._caught_up()
            return
        self.seq, self.head = last, head
        self._tail_wanted.clear()
        # sign at every N-th record exactly, as when tailing: the head there is that record's hash
        due = max(self.signed_seq, self._queued_seq) + self.every
        while due <= last:
            self._queue.append((due, hashlib.sha256(records[due - first]).hexdigest()))
            self._queued_seq = due
            due += self.every
        if self._queue and self._signer is None:
            self._signer = asyncio.get_running_loop().create_task(self._sign_queued())

    def _caught_up(self) -> None:
        """While tailing for the feed: has the tail reached the router's last append?"""
        last, head = self._fed_upto
        if self.seq == last:
            if self.head == head:
                self._tail_wanted.clear()
            else:
                self.broken = f"the router appended seq {last} with head {head[:16]}…, the trail has {self.head[:16]}…"
                log.error(
                    "audit chain broken: no further checkpoints are signed; run `samband audit verify`",
                    detail=self.broken,
                )

    async def _sign_queued(self) -> None:
        try:
            while self._queue:
                seq, head = self._queue[0]
                if not await self.checkpoint(seq, head) and seq > self.signed_seq and not self.broken:
                    return  # not stored: tried again after the next append
                self._queue.pop(0)
        finally:
            self._signer = None

    async def _resume(self) -> None:
        try:
            msg = await self.js.get_last_msg(CHECKPOINT_STREAM, CHECKPOINT_SUBJECT)
        except NotFoundError:
            return
        cp = CHECKPOINT_DECODER.decode(msg.data)
        self.seq = self.signed_seq = cp.seq
        self.head = cp.head

    async def _on_record(self, msg) -> None:
        if self.broken or (self.fed and not self._tail_wanted.is_set()):
            return  # the router's feed has taken over
        data = msg.data
        seq = record_seq(data)
        if seq <= self.seq:
            return  # already covered (an ordered consumer may replay after a reconnect)
        if seq != self.seq + 1 or data[PREV_SLICE] != self.head.encode():
            self.broken = f"seq {seq} does not follow seq {self.seq} (head {self.head[:16]}…)"
            log.error(
                "audit chain broken: no further checkpoints are signed; run `samband audit verify`", detail=self.broken
            )
            return
        self.seq, self.head = seq, hashlib.sha256(data).hexdigest()
        if self.seq - self.signed_seq >= self.every:
            await self.checkpoint()
        if self.fed and self._fed_upto[0] == self.seq:
            self._caught_up()

    async def checkpoint(self, seq: int | None = None, head: str | None = None) -> bool:
        """Sign and store a checkpoint over ``seq`` and ``head`` (by default the last record checked),
        if there is anything new. Never raises."""
        async with self._lock:
            if seq is None or head is None:
                seq, head = self.seq, self.head
            if self.broken or seq <= self.signed_seq:
                return False
            cp = sign_checkpoint(self.key, seq, head)
            try:
                ack = await self.js.publish(
                    CHECKPOINT_SUBJECT, msgspec.json.encode(cp), headers={"Nats-Msg-Id": f"checkpoint:{seq}"}, timeout=5
                )
            except (TimeoutError, JsError, NatsError, OSError) as exc:
                log.warning("audit checkpoint not stored; will retry", seq=seq, error=repr(exc))
                return False
            self.signed_seq = seq
            self._last_signed_at = time.monotonic()
            if not ack.duplicate:
                self.signed += 1
            return True

    async def run(self, stop: asyncio.Event, *, fed: bool = False) -> None:
        """Until ``stop``: check the chain (tail, or the router's feed with ``fed``) and sign every N
        records or T seconds; a last checkpoint on the way out."""
        self.fed = fed
        while not stop.is_set():
            try:
                await self._resume()
                break
            except (TimeoutError, JsError, NatsError, OSError) as exc:
                log.warning("audit checkpointer cannot start; retrying", error=repr(exc))
                await _sleep(stop, 1.0)
        else:
            return
        self.resumed.set()
        if not fed:
            self._tail_wanted.set()
        sub = None
        try:
            while not stop.is_set():
                if self._tail_wanted.is_set() and sub is None:
                    sub = await self._tail(stop)
                elif not self._tail_wanted.is_set() and sub is not None:
                    await _unsubscribe(sub)
                    sub, self.tailing = None, False
                await _sleep(stop, min(self.interval, 1.0), self._tail_wanted if sub is None else None)
                if time.monotonic() - self._last_signed_at >= self.interval:
                    await self.checkpoint()
        finally:
            # On the way out, what is already stored is covered: read by the tail, or (fed) told by
            # the router finishing its last batch, which stops beside it.
            await self._catch_up()
            if sub is not None:
                await _unsubscribe(sub)
            await self.checkpoint()

    async def _tail(self, stop: asyncio.Event):
        while not stop.is_set():
            try:
                self.tailing = True
                return await self.js.subscribe(
                    AUDIT_SUBJECT,
                    stream=AUDIT_STREAM,
                    cb=self._on_record,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    config=ConsumerConfig(opt_start_seq=self.seq + 1),
                )
            except (TimeoutError, JsError, NatsError, OSError) as exc:
                log.warning("audit checkpointer cannot read the trail; retrying", error=repr(exc))
                await _sleep(stop, 1.0)
        return None

    async def _catch_up(self, timeout: float = 2.0) -> None:
        """On the way out, read what is already stored so the last checkpoint covers it."""
        try:
            last = (await self.js.stream_info(AUDIT_STREAM)).state.last_seq
        except (TimeoutError, JsError, NatsError, OSError):
            return
        deadline = time.monotonic() + timeout
        while self.seq < last and not self.broken and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


async def _sleep(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _unsubscribe(sub) -> None:
    try:
        await sub.unsubscribe()
    except (JsError, NatsError):
        pass
