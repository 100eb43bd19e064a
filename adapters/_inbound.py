"""The inbound side: consume the agency's inbox (durable) into a sink, then receipt, then ack.

Per fetched batch: write each new record to the sink, fsync, publish one `Receipt` per
record to ``receipts.written`` (it lands in the router account as ``receipt.<agency>.written``)
and wait for those PubAcks, and only then ack the batch. A redelivered record (same envelope
id) is not written again, but its receipt is published again: the receipt of the first write
may be what a crash lost, and the receipt's ``Nats-Msg-Id`` (``<envelope id>:<agency>``)
dedupes it in the RECEIPTS stream.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import os
from pathlib import Path

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import Error as JsError

from samband.observability import consumer_span, get_logger
from samband.observability.bus import ack_pending
from samband.schemas import ENVELOPE_READER, DecodeError, Envelope, Receipt, encode

__all__ = ["RECEIPT_SUBJECT", "InboxSink", "consume_inbox"]

log = get_logger("samband.adapters")

RECEIPT_SUBJECT = "receipts.written"


class _Id(msgspec.Struct):
    id: str


_ID = msgspec.json.Decoder(_Id)


class InboxSink:
    """A JSON-lines file of delivered envelopes; remembers what it holds so a redelivery is not written twice."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # delivered records are personal data in clear: the sink is owner-only (and its folder, if made here)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(self.path, 0o600)
        self._seen: set[str] = set()
        self.pending = 0  # what the inbox held for its reader after the last fetch (the metrics' lag)
        if self.path.exists():
            with open(self.path, "rb") as f:
                for line in f:
                    if line.strip():
                        try:
                            self._seen.add(_ID.decode(line).id)
                        except msgspec.DecodeError:
                            # a torn last line from a crash mid-write: that record was never acked, it comes again
                            log.warning("ignoring a torn line in the sink", path=str(self.path))
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed by close()

    def write(self, env: Envelope, raw: bytes) -> bool:
        """Append ``raw``; False (and nothing written) when this envelope id is already in the sink."""
        if env.id in self._seen:
            return False
        self._file.write(raw.rstrip(b"\n") + b"\n")
        self._seen.add(env.id)
        return True

    def __contains__(self, envelope_id: str) -> bool:
        return envelope_id in self._seen

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._seen)


async def _publish_receipts(js, agency: str, receipts: list[tuple[str, bytes]], timeout: float) -> None:
    futs = [
        await js.publish_async(RECEIPT_SUBJECT, data, headers={"Nats-Msg-Id": f"{env_id}:{agency}"})
        for env_id, data in receipts
    ]
    await asyncio.wait_for(asyncio.gather(*futs), timeout)


async def consume_inbox(
    nc: nats.NATS,
    agency: str,
    sink: InboxSink,
    stop: asyncio.Event,
    *,
    batch: int = 256,
    receipts: bool = False,
    ack_timeout: float = 10.0,
) -> int:
    """Write each delivered record to ``sink``, acking only after the write is on disk and receipted.

    Returns the number of records written (redeliveries of written records not counted).
    ``receipts=True`` (what ``samband adapter run`` uses) publishes a `Receipt` per record before acking;
    it is off by default so in-process sinks in tests and the demo leave the RECEIPTS stream to their callers.
    """
    js = nc.jetstream()
    psub = await js.pull_subscribe(
        "in.>",
        durable=f"{agency}-sink",
        stream="INBOX",
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4096, ack_wait=60),
    )
    written = 0
    while not stop.is_set():
        try:
            msgs = await psub.fetch(batch, timeout=0.5)
        except (TimeoutError, NatsTimeout):
            continue
        except (NatsError, JsError) as exc:
            log.warning("inbox fetch failed; retrying", agency=agency, error=repr(exc))
            await asyncio.sleep(0.5)
            continue
        if msgs:
            sink.pending = _pending(msgs[-1].reply)
        keep, pending_receipts = [], []
        for msg in msgs:
            with consumer_span(msg.subject, msg.headers, attributes={"samband.agency": agency}):
                try:
                    env = ENVELOPE_READER.decode(msg.data)  # recipients read tolerantly (docs/schemas.md)
                except DecodeError as exc:
                    log.error("undecodable delivery kept in inbox", subject=msg.subject, error=str(exc))
                    await msg.term()
                    continue
                if sink.write(env, msg.data):
                    written += 1
                keep.append(msg)
                if receipts:
                    receipt = Receipt(
                        envelope_id=env.id,
                        recipient=agency,
                        written_at=_dt.datetime.now(_dt.UTC),
                        sha256=hashlib.sha256(msg.data).hexdigest(),
                    )
                    pending_receipts.append((env.id, encode(receipt)))
        sink.flush()
        if pending_receipts:
            try:
                await _publish_receipts(js, agency, pending_receipts, ack_timeout)
            except (TimeoutError, NatsError, JsError) as exc:
                # Written but not receipted: leave unacked; the redelivery re-sends the receipts (not the writes).
                log.warning("receipts not acknowledged; batch will be redelivered", agency=agency, error=repr(exc))
                for msg in keep:
                    await msg.nak(delay=1)
                continue
        for msg in keep:
            await msg.ack()
    return written


def _pending(reply: str | None) -> int:
    try:
        return ack_pending(reply or "")
    except ValueError:
        return 0
