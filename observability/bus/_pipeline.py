"""JetStream publishes in flight on one reply subscription: the server's answer for each message.

Shared by the adapters (a window of records) and the router (audit appends, deliveries). nats-py's
``request`` costs a future, a ``wait_for`` timer and a random token per message, ``publish_async``
a future, a semaphore and a random token (and it loses a refused publish: the server's error is
raised inside its reply handler, so its future only times out). Here messages are published with
reply subjects ``<inbox>.<batch>.<index>`` in the connection's order, one subscription collects
the answers, and a batch waits once: every message gets its PubAck, the server's error, or a
timeout, in the order it was sent.

Sending: a whole slice of a batch is framed here (``HPUB``) into one buffer and handed to nats-py
as one command through `_shim.write`, instead of nats-py framing, validating and queueing each
message (half of an adapter's time went there, measured with cProfile). The framing is
`_framing`'s (nats-py's own format). Where the shim cannot be used, each message goes through
``NATS.publish``: slower, the same on the wire.

Nothing is sent while the client is disconnected: nats-py would buffer it and send it first
thing on reconnect, ahead of the retries of messages whose answers were lost, and the stream
would store them out of order. Such messages are answered `NotConnected` at once, and the caller
retries them in order once the connection is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import nats
from nats.aio.subscription import Subscription

from . import _shim
from ._errors import (
    ApiError,
    ConnectionClosed,
    NoAnswer,
    NoStream,
    NotConnected,
    NotSendable,
    PublishError,
    PublishRefused,
)
from ._framing import HeaderKeyError, header_block, parse_headers, subject_ok

__all__ = ["AckPipeline", "Item", "PubAck", "PublishBatch"]

# (subject, payload, headers): a dict, or a header block the caller framed itself (`header_block`'s
# format, for values it made: the router's deliveries), or None
Item = tuple[str, bytes, "dict[str, str] | bytes | None"]


class PubAck(msgspec.Struct, forbid_unknown_fields=False):
    # The JetStream publish reply: an ack, or an error (unknown fields skipped on purpose). An
    # atomic batch's commit also says the batch and how many it stored; the messages before the
    # commit are answered with an empty reply (staged), which reads as a `PubAck` with seq 0.
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: ApiError | None = None
    batch: str = ""
    count: int = 0


_PUBACK = msgspec.json.Decoder(PubAck)
_STAGED = PubAck()


def _framed(headers: dict[str, str] | bytes) -> bytes:
    """The header block: as the caller framed it, or framed (and checked) here."""
    return headers if isinstance(headers, bytes) else header_block(headers)


def _as_dict(headers: dict[str, str] | bytes | None) -> dict[str, str] | None:
    """Headers for nats-py's ``publish``, which takes a dict (a caller's block read back)."""
    return parse_headers(headers) if isinstance(headers, bytes) else headers


def _translated(exc: BaseException, nc: nats.NATS) -> PublishError:
    """nats-py's error for a message it could not send, as ours (the cause kept)."""
    out: PublishError
    if nc.is_closed or isinstance(exc, nats.errors.ConnectionClosedError):
        out = ConnectionClosed()
    elif isinstance(
        exc, (nats.errors.MaxPayloadError, nats.errors.BadSubjectError, nats.errors.BadHeaderError, HeaderKeyError)
    ):
        out = NotSendable(f"Expected a message the server accepts, got {type(exc).__name__}: {exc}")
    else:
        out = NotConnected()
    out.__cause__ = exc
    return out


class PublishBatch:
    """Messages sent under one key: their answers, in the order they were sent."""

    __slots__ = ("_done", "_slices", "key", "left", "reply", "results")

    def __init__(self, key: int, reply: str) -> None:
        self.key, self.reply = key, reply
        self.results: list[PubAck | BaseException | None] = []
        self.left = 0
        self._done: asyncio.Future | None = None
        self._slices: list[tuple[int, Sequence[Item]]] = []  # (first index, items) as sent

    def subject(self, i: int) -> str:
        """The subject message ``i`` was published to (for an error that names it)."""
        for start, items in reversed(self._slices):
            if i >= start:
                return items[i - start][0]
        return "?"

    def _add(self, items: Sequence[Item]) -> int:
        start = len(self.results)
        self.results.extend([None] * len(items))
        self.left += len(items)
        self._slices.append((start, items))
        return start

    def settle(self, i: int, result: PubAck | BaseException) -> None:
        if self.results[i] is not None:
            return  # a second answer (a late one after a timeout): the first one stands
        self.results[i] = result
        self.left -= 1
        if self.left == 0 and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def fail_from(self, start: int, exc: BaseException) -> None:
        for i in range(start, len(self.results)):
            if self.results[i] is None:
                self.settle(i, exc)


class AckPipeline:
    """Publish batches to JetStream and get, per message, its ``PubAck`` or the exception."""

    def __init__(self, nc: nats.NATS, *, framed: bool = True, routed: bool = True) -> None:
        """``framed``/``routed`` False: nats-py's public path for sending/answers (`samband bench shim`
        measures what each gains)."""
        self.nc = nc
        self._prefix = ""
        self._sub: Subscription | None = None
        self._batches: dict[int, PublishBatch] = {}
        self._next = 0
        # one write per slice through the shim; without it, NATS.publish per message
        self._fast = framed and _shim.can_write(nc)
        # answers handed over by the client's parser; without it, a subscription callback per answer
        self._routed = routed and _shim.can_route(nc)

    async def start(self) -> None:
        if self._sub is None:
            self._prefix = self.nc.new_inbox()
            self._sub = await self.nc.subscribe(
                self._prefix + ".>",
                cb=self._on_reply,
                pending_msgs_limit=1_000_000,
                pending_bytes_limit=-1,
            )
            if self._routed:
                _shim.route(self.nc, self._sub, self._on_raw)

    async def close(self) -> None:
        if self._sub is not None:
            if self._routed:
                _shim.unroute(self.nc, self._sub)
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass
            self._sub = None

    async def publish(self, items: Sequence[Item], timeout: float) -> list[PubAck | BaseException]:
        """Send all ``items`` (subject, payload, headers) in order, then wait once for all answers."""
        batch = await self.open()
        await self.send(batch, items)
        return await self.wait(batch, timeout)

    async def open(self) -> PublishBatch:
        await self.start()
        self._next += 1
        batch = self._batches[self._next] = PublishBatch(self._next, f"{self._prefix}.{self._next}.")
        return batch

    async def send(self, batch: PublishBatch, items: Sequence[Item]) -> None:
        """Add ``items`` to ``batch`` and send them now, after everything sent before."""
        if not items:
            return
        start = batch._add(items)
        nc = self.nc
        if not nc.is_connected:
            batch.fail_from(start, ConnectionClosed() if nc.is_closed else NotConnected())
            return
        if not self._fast:
            await self._send_each(batch, items, start)
            return
        reply, limit = batch.reply, nc.max_payload
        parts: list[bytes] = []
        size = 0
        for i, (subject, payload, headers) in enumerate(items, start):
            n = len(payload)
            if n > limit:  # the server would close the connection on it
                batch.settle(
                    i,
                    NotSendable(f"Expected at most {limit} bytes (the server's max_payload), got {n} - at `{subject}`"),
                )
                continue
            if not subject_ok(subject):
                batch.settle(i, NotSendable(f"Expected a subject without whitespace, got {subject!r}"))
                continue
            # the commands of `hpub_cmd`/`pub_cmd`, written straight into the slice's one buffer
            if headers:
                try:
                    hdr = _framed(headers)
                except HeaderKeyError as exc:
                    batch.settle(i, NotSendable(f"{exc} - at `{subject}`"))
                    continue
                h = len(hdr)
                parts += (f"HPUB {subject} {reply}{i} {h} {h + n}\r\n".encode(), hdr, payload, b"\r\n")
            else:
                parts += (f"PUB {subject} {reply}{i} {n}\r\n".encode(), payload, b"\r\n")
            size += n
        try:
            await _shim.write(nc, b"".join(parts), len(items), size)
        except (nats.errors.Error, OSError) as exc:
            batch.fail_from(start, _translated(exc, self.nc))

    async def send_bare(self, subjects: Sequence[str]) -> None:
        """Empty messages with no reply wanted (a JetStream ack per delivered message), in one write."""
        nc = self.nc
        if not subjects:
            return
        if not self._fast or not nc.is_connected:
            for s in subjects:
                await nc.publish(s)
            return
        await _shim.write(nc, "".join([f"PUB {s} 0\r\n\r\n" for s in subjects]).encode(), len(subjects), 0)

    async def send_unanswered(self, items: Sequence[Item]) -> None:
        """Messages whose answers nobody reads, in one write, before anything sent after them: for a
        run of publishes whose outcome the answer to a last one, sent with `send`, tells (the ledger's
        claims). Raises `NotSendable` for a message the server would refuse, `PublishError` if not sent."""
        nc = self.nc
        if not items:
            return
        if not self._fast or not nc.is_connected:
            for subject, payload, headers in items:
                try:
                    await nc.publish(subject, payload, headers=_as_dict(headers))
                except (nats.errors.Error, OSError) as exc:
                    raise _translated(exc, nc) from exc
            return
        parts: list[bytes] = []
        size = 0
        last_headers: dict[str, str] | bytes | None = None
        hdr = b""
        for subject, payload, headers in items:
            if len(payload) > nc.max_payload or not subject_ok(subject):
                raise NotSendable(f"Expected a message the server accepts, got one to {subject!r}")
            if headers:
                if headers is not last_headers:  # a run often shares one dict: framed once
                    try:
                        hdr, last_headers = _framed(headers), headers
                    except HeaderKeyError as exc:
                        raise NotSendable(f"{exc} - at `{subject}`") from exc
                h = len(hdr)
                parts += (f"HPUB {subject} {h} {h + len(payload)}\r\n".encode(), hdr, payload, b"\r\n")
            else:
                parts += (f"PUB {subject} {len(payload)}\r\n".encode(), payload, b"\r\n")
            size += len(payload)
        try:
            await _shim.write(nc, b"".join(parts), len(items), size)
        except (nats.errors.Error, OSError) as exc:
            raise _translated(exc, nc) from exc

    async def _send_each(self, batch: PublishBatch, items: Sequence[Item], start: int) -> None:
        publish = self.nc.publish
        for i, (subject, payload, headers) in enumerate(items, start):
            try:
                await publish(subject, payload, reply=f"{batch.reply}{i}", headers=_as_dict(headers))
            except (nats.errors.Error, OSError) as exc:
                # Not sent (closed, or disconnected with a full buffer): this one and, to keep
                # the order, every one after it fail with that error; the caller retries.
                batch.fail_from(i, _translated(exc, self.nc))
                return

    async def wait(self, batch: PublishBatch, timeout: float) -> list[PubAck | BaseException]:
        """Every answer of ``batch`` (a timeout error for the missing ones); the batch is then closed."""
        try:
            if batch.left:
                batch._done = asyncio.get_running_loop().create_future()
                try:
                    await asyncio.wait_for(batch._done, timeout)
                except TimeoutError:
                    pass
        finally:
            self._batches.pop(batch.key, None)
        no_answer = NoAnswer(timeout)
        return [no_answer if r is None else r for r in batch.results]

    async def _on_reply(self, msg) -> None:
        """An answer through nats-py's subscription (where `_shim.route` cannot be used)."""
        hdr = msg.headers
        self._answer(msg.subject.encode(), msg.data, bool(hdr), bool(hdr) and hdr.get("Status") == "503")

    def _on_raw(self, subject: bytes, _reply: bytes, data: bytes, headers: bytes | None) -> None:
        """An answer as the client's parser cut it out (`_shim.route`): no `Msg`, no queue, no task hop."""
        self._answer(subject, data, bool(headers), headers is not None and headers.startswith(b"NATS/1.0 503"))

    def _answer(self, subject: bytes, data: bytes, headers: bool, no_responders: bool) -> None:
        # Nothing here may raise into nats-py (its parser, or its subscription task).
        try:
            _, key, index = subject.rsplit(b".", 2)
            batch = self._batches.get(int(key))
            i = int(index)
        except ValueError:
            return
        if batch is None or not 0 <= i < len(batch.results) or batch.results[i] is not None:
            return  # a late answer for a batch that gave up waiting (or a reply that is not ours)
        if no_responders:
            result: PubAck | BaseException = NoStream(batch.subject(i))
        elif not data and not headers:
            result = _STAGED
        else:
            try:
                ack = _PUBACK.decode(data)
                result = ack if ack.error is None else PublishRefused(ack.error)
            except msgspec.DecodeError as exc:
                result = exc
        batch.settle(i, result)
