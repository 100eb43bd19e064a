"""The one-writer lease: a NATS KV key with a TTL, taken by create and renewed by compare-and-set.

Exactly one router appends to the log at a time. It holds the key ``writer`` in the KV bucket
``AUDIT_LEASE`` (a bucket whose values live `LEASE_TTL` seconds): it took the key when nobody
held it (create fails while a value is there) and renews it every `RENEW_EVERY` seconds, each
renewal an update conditional on the revision it last wrote, so a renewal after someone else
took the key fails. A second router waits (a standby) and tries again every `POLL` seconds;
the key lapses `LEASE_TTL` seconds after the leader's last renewal, so a standby takes over
at most `LEASE_TTL + POLL` seconds after the leader died, or at once when it stopped cleanly
(it deletes its key on the way out).

A leader appends only while its last renewal is younger than `FENCE_AFTER` (< `LEASE_TTL`):
a leader that was paused, or cut off from the broker, stops appending before a standby can
take over. The lease is not what keeps the log linear, though: every append is conditional on
the stream's exact last sequence, so even two writers that both believe they lead cannot fork
it or leave a hole; the lease only makes that refusal rare. The revision at which a writer
took the key is its **term**, written into each bundle it appends.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import socket
import time
from collections.abc import Callable

import msgspec
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError

from samband.schemas.layout import AUDIT_LEASE_BUCKET, AUDIT_LEASE_KEY

from .._logging import get_logger
from ._errors import AuditUnavailable, LeaseLost

__all__ = ["FENCE_AFTER", "LEASE_TTL", "POLL", "RENEW_EVERY", "Lease", "LeaseHolder"]

log = get_logger("samband.audit.lease")

LEASE_TTL = 5.0  # seconds a lease lives without a renewal (the bucket's max age)
RENEW_EVERY = 1.0
FENCE_AFTER = 3.5  # a leader appends only while its last renewal is younger than this
POLL = 0.5  # how often a standby tries to take the lease


class LeaseHolder(msgspec.Struct, frozen=True, kw_only=True):
    """What the key holds: who leads, since when."""

    holder: str
    since: _dt.datetime


_HOLDER = msgspec.json.Decoder(LeaseHolder)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class Lease:
    """This process's claim on the writer's lease."""

    def __init__(self, nc, holder: str | None = None) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.holder = holder or default_holder()
        self.term = 0  # the revision at which this process took the lease; 0 while it does not hold it
        self._revision = 0
        self._renewed = 0.0  # monotonic time of the last successful write of the key
        self._kv = None
        self._task: asyncio.Task | None = None
        self.lost: str | None = None  # why this process stopped holding it

    async def _bucket(self):
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(AUDIT_LEASE_BUCKET)
            except NotFoundError as exc:
                raise AuditUnavailable(
                    f"Expected the lease bucket {AUDIT_LEASE_BUCKET}, it does not exist (provision the audit streams)"
                ) from exc
        return self._kv

    def _value(self) -> bytes:
        return msgspec.json.encode(LeaseHolder(holder=self.holder, since=_dt.datetime.now(_dt.UTC)))

    async def holder_now(self) -> str | None:
        """Who holds the lease now (None: nobody)."""
        kv = await self._bucket()
        try:
            entry = await kv.get(AUDIT_LEASE_KEY)
        except NotFoundError:  # never held, lapsed, or released (a delete marker)
            return None
        try:
            return _HOLDER.decode(entry.value or b"").holder
        except msgspec.DecodeError:
            return "(unreadable)"

    async def acquire(self, stop: asyncio.Event | None = None, on_wait: Callable[[str], None] | None = None) -> int:
        """Take the lease, waiting as a standby while another holds it; the term. Renews in the background."""
        told = None
        while True:
            try:
                kv = await self._bucket()
                rev = await kv.create(AUDIT_LEASE_KEY, self._value())
            except KeyWrongLastSequenceError:
                holder = await self._holder_or_none()
                if holder is not None and holder != told and on_wait is not None:
                    on_wait(holder)
                told = holder or told
            except (TimeoutError, JsError, NatsError) as exc:
                log.warning("audit lease cannot be asked for; retrying", error=repr(exc))
            else:
                self.term = self._revision = rev
                self._renewed = time.monotonic()
                self.lost = None
                self._task = asyncio.get_running_loop().create_task(self._keep())
                log.info("audit lease taken: this router writes the audit log", term=rev, holder=self.holder)
                return rev
            if stop is not None and stop.is_set():
                raise AuditUnavailable("Expected to take the audit lease, stopped while another router held it")
            await asyncio.sleep(POLL)

    async def _holder_or_none(self) -> str | None:
        try:
            return await self.holder_now()
        except (TimeoutError, JsError, NatsError):
            return None

    def fresh(self) -> bool:
        """Whether this process may append now: it holds the lease and renewed it within `FENCE_AFTER`."""
        return self.term > 0 and self.lost is None and time.monotonic() - self._renewed < FENCE_AFTER

    def check(self) -> None:
        """Raise unless `fresh`: `LeaseLost` if another took it, `AuditUnavailable` if not renewed lately."""
        if self.lost is not None:
            raise LeaseLost(self.lost)
        if not self.fresh():
            age = time.monotonic() - self._renewed
            raise AuditUnavailable(
                f"Expected the audit lease renewed within {FENCE_AFTER:g} s, its last renewal is {age:.1f} s old"
            )

    async def _keep(self) -> None:
        while self.lost is None and not self.nc.is_closed:  # a closed connection never renews again
            await asyncio.sleep(RENEW_EVERY)
            await self.renew()

    async def renew(self) -> None:
        kv = await self._bucket()
        try:
            self._revision = await kv.update(AUDIT_LEASE_KEY, self._value(), last=self._revision)
            self._renewed = time.monotonic()
        except KeyWrongLastSequenceError:
            holder = await self._holder_or_none()
            self.lost = f"lost the audit lease to {holder or 'nobody (it lapsed)'}: this router stops appending"
            log.error("audit lease lost: this router appends nothing more", holder=holder, term=self.term)
        except (TimeoutError, JsError, NatsError) as exc:
            log.warning("audit lease not renewed; will retry", error=repr(exc))

    async def release(self) -> None:
        """Give the lease up (a standby takes over at once); nothing if it was lost."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.term and self.lost is None:
            try:
                kv = await self._bucket()
                await kv.delete(AUDIT_LEASE_KEY, last=self._revision)
                log.info("audit lease released", term=self.term)
            except (TimeoutError, JsError, NatsError) as exc:
                log.warning("audit lease not released; it lapses by itself", error=repr(exc))
        self.term = 0
