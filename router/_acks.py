"""JetStream publishes in flight on one reply subscription: the server's answer for each message.

nats-py's ``request`` costs a future, a ``wait_for`` timer and a random token per message, a
third of the router's time in ``samband bench``; and ``publish_async`` loses a refused publish
(the server's error is raised inside its reply handler, so its future only times out). Here a
batch is published with reply subjects ``<inbox>.<batch>.<index>`` on the connection's own
order, one subscription collects the answers, and the batch waits once: every message gets
its PubAck, the server's error, or a timeout, in the order it was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import nats
from nats.errors import NoRespondersError

__all__ = ["AckPipeline", "PubAck", "PublishRefused"]


class ApiError(msgspec.Struct, forbid_unknown_fields=False):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct, forbid_unknown_fields=False):
    # The JetStream publish reply: an ack, or an error (unknown fields skipped on purpose).
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: ApiError | None = None


_PUBACK = msgspec.json.Decoder(PubAck)


class PublishRefused(ConnectionError):
    """The stream answered a publish with an error (e.g. a wrong expected last sequence)."""

    def __init__(self, error: ApiError) -> None:
        self.error = error
        super().__init__(f"{error.description} (code {error.code}, err_code {error.err_code})")


class _Batch:
    __slots__ = ("results", "left", "done")

    def __init__(self, n: int) -> None:
        self.results: list[PubAck | BaseException | None] = [None] * n
        self.left = n
        self.done = asyncio.get_running_loop().create_future()

    def settle(self, i: int, result: PubAck | BaseException) -> None:
        self.results[i] = result
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)

    def fail_from(self, start: int, exc: BaseException) -> None:
        for i in range(start, len(self.results)):
            if self.results[i] is None:
                self.settle(i, exc)


class AckPipeline:
    """Publish a batch to JetStream and return, per message, its ``PubAck`` or the exception."""

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self._prefix = ""
        self._sub = None
        self._batches: dict[int, _Batch] = {}
        self._next = 0

    async def start(self) -> None:
        self._prefix = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(
            self._prefix + ".>", cb=self._on_reply, pending_msgs_limit=1_000_000, pending_bytes_limit=-1,
        )

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass
            self._sub = None

    async def publish(
        self, items: Sequence[tuple[str, bytes, dict[str, str]]], timeout: float,
    ) -> list[PubAck | BaseException]:
        """Send all ``items`` (subject, payload, headers) in order, then wait once for all answers."""
        if self._sub is None:
            await self.start()
        if not items:
            return []
        self._next += 1
        key = self._next
        batch = self._batches[key] = _Batch(len(items))
        reply = f"{self._prefix}.{key}."
        publish = self.nc.publish
        try:
            for i, (subject, payload, headers) in enumerate(items):
                try:
                    await publish(subject, payload, reply=f"{reply}{i}", headers=headers)
                except (nats.errors.Error, OSError) as exc:
                    # Not sent (closed, or disconnected with a full buffer): this one and, to keep
                    # the order, every one after it fail with that error; the caller retries.
                    batch.fail_from(i, exc)
                    break
            if batch.left:
                try:
                    await asyncio.wait_for(batch.done, timeout)
                except asyncio.TimeoutError:
                    pass
        finally:
            del self._batches[key]
        timeout_exc = asyncio.TimeoutError(f"no answer from the stream within {timeout:g} s")
        return [timeout_exc if r is None else r for r in batch.results]

    async def _on_reply(self, msg) -> None:
        # Nothing here may raise into nats-py's subscription task.
        try:
            _, key, index = msg.subject.rsplit(".", 2)
            batch = self._batches.get(int(key))
            i = int(index)
        except ValueError:
            return
        if batch is None or not 0 <= i < len(batch.results) or batch.results[i] is not None:
            return  # a late answer for a batch that gave up waiting (or a reply that is not ours)
        if msg.headers and msg.headers.get("Status") == "503":
            result: PubAck | BaseException = NoRespondersError()
        else:
            try:
                ack = _PUBACK.decode(msg.data)
                result = ack if ack.error is None else PublishRefused(ack.error)
            except msgspec.DecodeError as exc:
                result = exc
        batch.settle(i, result)
