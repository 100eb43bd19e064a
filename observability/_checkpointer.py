"""The checkpointer: tails AUDIT with its own consumer and signs (seq, head, time) every N records or T seconds.

It checks the chain as it reads, from the last signed checkpoint on, and never signs a
chain that does not hold together: it says so in its log and stops signing instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from ._audit import GENESIS
from ._checkpoint import CHECKPOINT_DECODER, sign_checkpoint
from ._logging import get_logger
from ._trail import AUDIT_STREAM, AUDIT_SUBJECT, CHECKPOINT_STREAM, CHECKPOINT_SUBJECT
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

    async def _resume(self) -> None:
        try:
            msg = await self.js.get_last_msg(CHECKPOINT_STREAM, CHECKPOINT_SUBJECT)
        except NotFoundError:
            return
        cp = CHECKPOINT_DECODER.decode(msg.data)
        self.seq = self.signed_seq = cp.seq
        self.head = cp.head

    async def _on_record(self, msg) -> None:
        if self.broken:
            return
        data = msg.data
        seq = record_seq(data)
        if seq <= self.seq:
            return  # already covered (an ordered consumer may replay after a reconnect)
        if seq != self.seq + 1 or data[9:73] != self.head.encode():
            self.broken = f"seq {seq} does not follow seq {self.seq} (head {self.head[:16]}…)"
            log.error("audit chain broken: no further checkpoints are signed; run `samband audit verify`",
                      detail=self.broken)
            return
        self.seq, self.head = seq, hashlib.sha256(data).hexdigest()
        if self.seq - self.signed_seq >= self.every:
            await self.checkpoint()

    async def checkpoint(self) -> bool:
        """Sign and store a checkpoint over the current head, if there is anything new. Never raises."""
        async with self._lock:
            if self.broken or self.seq <= self.signed_seq:
                return False
            seq, head = self.seq, self.head
            cp = sign_checkpoint(self.key, seq, head)
            try:
                ack = await self.js.publish(CHECKPOINT_SUBJECT, msgspec.json.encode(cp),
                                            headers={"Nats-Msg-Id": f"checkpoint:{seq}"}, timeout=5)
            except (JsError, NatsError, asyncio.TimeoutError, OSError) as exc:
                log.warning("audit checkpoint not stored; will retry", seq=seq, error=repr(exc))
                return False
            self.signed_seq = seq
            self._last_signed_at = time.monotonic()
            if not ack.duplicate:
                self.signed += 1
            return True

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: tail the trail, sign every N records or T seconds; a last checkpoint on the way out."""
        while not stop.is_set():
            try:
                await self._resume()
                sub = await self.js.subscribe(
                    AUDIT_SUBJECT, stream=AUDIT_STREAM, cb=self._on_record, ordered_consumer=True,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE, config=ConsumerConfig(opt_start_seq=self.seq + 1),
                )
                break
            except (JsError, NatsError, asyncio.TimeoutError, OSError) as exc:
                log.warning("audit checkpointer cannot start; retrying", error=repr(exc))
                await _sleep(stop, 1.0)
        else:
            return
        try:
            while not stop.is_set():
                await _sleep(stop, min(self.interval, 1.0))
                if time.monotonic() - self._last_signed_at >= self.interval:
                    await self.checkpoint()
        finally:
            await self._catch_up()
            try:
                await sub.unsubscribe()
            except (JsError, NatsError):
                pass
            await self.checkpoint()


    async def _catch_up(self, timeout: float = 2.0) -> None:
        """On the way out, read what is already stored so the last checkpoint covers it."""
        try:
            last = (await self.js.stream_info(AUDIT_STREAM)).state.last_seq
        except (JsError, NatsError, asyncio.TimeoutError, OSError):
            return
        deadline = time.monotonic() + timeout
        while self.seq < last and not self.broken and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
