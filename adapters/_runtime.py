"""The shared adapter runtime: read, map, publish (outbound); consume the inbox into a sink (inbound)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import Error as JsError

from samband.observability import consumer_span, get_logger, inject_headers, producer_span
from samband.schemas import ENVELOPE, DecodeError, Envelope, SchemaError, encode

from ._errors import PublishFailed, RejectedRecord
from ._mapping import AgencyMapping
from ._sources import NativeRecord

__all__ = ["PublishSummary", "publish_records", "InboxSink", "consume_inbox"]

log = get_logger("samband.adapters")


@dataclass
class PublishSummary:
    read: int = 0
    published: int = 0
    duplicates: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)


def _map(mapping: AgencyMapping, item: NativeRecord) -> tuple[str, Envelope]:
    try:
        return mapping.key(item.value), mapping.to_envelope(item.value)
    except (KeyError, ValueError, TypeError, SchemaError, msgspec.ValidationError) as exc:
        reason = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise RejectedRecord(reason, position=item.position, raw=item.raw) from None


async def publish_records(
    nc: nats.NATS,
    mapping: AgencyMapping,
    items: Iterable[NativeRecord | RejectedRecord],
    *,
    window: int = 256,
    ack_timeout: float = 10.0,
) -> PublishSummary:
    """Map and publish each record to ``out.<record type>`` with ``Nats-Msg-Id`` = the native key.

    At most ``window`` publishes are in flight; each window's acks are awaited before the next.
    """
    js = nc.jetstream()
    summary = PublishSummary()
    pending: list[tuple[str, asyncio.Future]] = []

    async def drain() -> None:
        for position, fut in pending:
            try:
                ack = await asyncio.wait_for(fut, ack_timeout)
            except (JsError, NatsError, asyncio.TimeoutError) as exc:
                raise PublishFailed(f"publish of {position} not acknowledged: {exc!r}") from exc
            if ack.duplicate:
                summary.duplicates += 1
            else:
                summary.published += 1
        pending.clear()

    for item in items:
        summary.read += 1
        if isinstance(item, RejectedRecord):
            summary.rejected.append(item)
            log.warning("record rejected", position=item.position, reason=item.reason)
            continue
        try:
            key, env = _map(mapping, item)
        except RejectedRecord as rej:
            summary.rejected.append(rej)
            log.warning("record rejected", position=rej.position, reason=rej.reason)
            continue
        subject = f"out.{env.record_type}"
        with producer_span(subject, message_id=key, attributes={"samband.agency": mapping.agency}):
            headers = inject_headers({"Nats-Msg-Id": f"{mapping.agency}:{key}"})
            payload = encode(msgspec.structs.replace(env, traceparent=headers.get("traceparent")))
            pending.append((item.position, await js.publish_async(subject, payload, headers=headers)))
        if len(pending) >= window:
            await drain()
    await drain()
    return summary


class InboxSink:
    """A JSON-lines file of delivered envelopes; remembers what it holds so a redelivery is not written twice."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seen: set[str] = set()
        if self.path.exists():
            with open(self.path, "rb") as f:
                for line in f:
                    if line.strip():
                        self._seen.add(msgspec.json.decode(line, type=dict)["id"])
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed by close()

    def write(self, env: Envelope, raw: bytes) -> bool:
        if env.id in self._seen:
            return False
        self._file.write(raw.rstrip(b"\n") + b"\n")
        self._seen.add(env.id)
        return True

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._seen)


async def consume_inbox(nc: nats.NATS, agency: str, sink: InboxSink, stop: asyncio.Event, *, batch: int = 256) -> int:
    """Write each delivered record to ``sink``, acking only after the write is on disk. Returns records written."""
    js = nc.jetstream()
    psub = await js.pull_subscribe(
        "in.>", durable=f"{agency}-sink", stream="INBOX",
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4096, ack_wait=60),
    )
    written = 0
    while not stop.is_set():
        try:
            msgs = await psub.fetch(batch, timeout=0.5)
        except (NatsTimeout, asyncio.TimeoutError):
            continue
        for msg in msgs:
            with consumer_span(msg.subject, msg.headers, attributes={"samband.agency": agency}):
                try:
                    env = ENVELOPE.decode(msg.data)
                except DecodeError as exc:
                    log.error("undecodable delivery kept in inbox", subject=msg.subject, error=str(exc))
                    await msg.term()
                    continue
                if sink.write(env, msg.data):
                    written += 1
        sink.flush()
        for msg in msgs:
            await msg.ack()
    return written
