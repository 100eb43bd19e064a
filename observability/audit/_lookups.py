"""Auditors' lookups into the log: a person search or an export is itself audited.

An auditor's tool (`samband console`) never writes the log: it publishes a `LookupRequest` on
its identity's own subject ``audit.lookup.<identity>`` and waits for the lookups stream's ack
before it shows anything (fail closed: no answer without a durable record of the question).
The broker lets each audit identity publish on its own subject only (broker_config/_audit.py),
so who asked is the broker's word; the payload's words are checked, bounded and scrubbed of
anything shaped like a personnummer. The one writer (`Appender`) drains the stream
(`LookupIntake`, a durable consumer of a work-queue stream) into its next append as `Lookup`
entries, or appends them on its own when the router is idle, and acks them only once stored.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import Error as JsError

from samband.schemas import PNR_SHAPE, mask_personnummer
from samband.schemas.layout import AUDIT_LOOKUP_PREFIX, AUDIT_LOOKUPS_STREAM, lookup_subject

from ._entry import Lookup
from ._errors import AuditUnavailable

__all__ = [
    "LOOKUPS_CONFIG",
    "LOOKUP_ACK_WAIT",
    "LOOKUP_ACTIONS",
    "MAX_LOOKUP_BYTES",
    "LookupIntake",
    "LookupRequest",
    "lookup_entry",
    "record_lookup",
]

LOOKUP_ACTIONS = ("person-search", "export-csv", "export-signed")
MAX_LOOKUP_BYTES = 4096  # a handful of filters; the stream refuses anything larger
MAX_FILTERS = 16
MAX_VALUE = 200
PENDING_PER_IDENTITY = 10_000  # lookups not yet drained: past it an identity's next lookup is refused
WRITER_DURABLE = "audit-writer"
# A delivery the writer did not take in (seen once under load in CI: a search's lookup sat unappended
# for the whole 30 s the consumer then waited) comes again after this; one it did take in and has
# not stored yet comes again too, and is recognised by its sequence (`Appender._drain`).
LOOKUP_ACK_WAIT = 5.0
_NAME = re.compile(r"[a-z][a-z_]{0,31}")

LOOKUPS_CONFIG = StreamConfig(
    name=AUDIT_LOOKUPS_STREAM,
    subjects=[AUDIT_LOOKUP_PREFIX + "*"],
    storage=StorageType.FILE,
    # drained by the writer: what it acked is in the log, so the stream keeps only what is not yet
    retention=RetentionPolicy.WORK_QUEUE,
    discard=DiscardPolicy.NEW,
    discard_new_per_subject=True,
    max_msgs_per_subject=PENDING_PER_IDENTITY,
    max_msg_size=MAX_LOOKUP_BYTES,
    deny_delete=True,
    deny_purge=True,
    allow_rollup_hdrs=False,
)


class LookupRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an auditor's tool says it looked up: the action, its filters (``name -> value``, a person as
    its keyed pseudonym) and how many entries it found."""

    action: str
    filters: dict[str, str] = {}
    results: int = 0


_REQUEST = msgspec.json.Decoder(LookupRequest)


def _scrub(value: str) -> str:
    return PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), value)[:MAX_VALUE]


def _check(req: LookupRequest) -> str | None:
    """What is wrong with ``req`` (None: nothing)."""
    if req.action not in LOOKUP_ACTIONS:
        return f"Expected an action of {', '.join(LOOKUP_ACTIONS)}, got `{_scrub(req.action)[:40]}` - at `$.action`"
    if len(req.filters) > MAX_FILTERS:
        return f"Expected at most {MAX_FILTERS} filters, got {len(req.filters)} - at `$.filters`"
    for name in req.filters:
        if not _NAME.fullmatch(name):
            return f"Expected a filter name of lower-case letters, got `{_scrub(name)[:40]}` - at `$.filters`"
    if not 0 <= req.results < 1 << 53:
        return f"Expected a count of results >= 0, got {req.results} - at `$.results`"
    return None


async def record_lookup(
    nc: nats.NATS, identity: str, action: str, filters: dict[str, str], results: int = 0, *, timeout: float = 5.0
) -> int:
    """Record a lookup as ``identity`` (``nc`` connected with its credentials); its sequence in the
    lookups stream once stored. Raises `AuditUnavailable` when it is not stored: the caller shows nothing."""
    body = msgspec.json.encode(LookupRequest(action=action, filters=filters, results=results))
    try:
        ack = await nc.jetstream().publish(lookup_subject(identity), body, timeout=timeout)
    except (TimeoutError, JsError, NatsError) as exc:
        raise AuditUnavailable(
            f"Expected the lookup to be recorded in {AUDIT_LOOKUPS_STREAM}, got {exc!r}: nothing is shown unrecorded"
        ) from exc
    return ack.seq


def lookup_entry(subject: str, seq: int, stored_at: _dt.datetime, data: bytes) -> Lookup:
    """The log's entry for the message ``seq`` of the lookups stream: the identity from its subject."""
    identity = subject[len(AUDIT_LOOKUP_PREFIX) :] if subject.startswith(AUDIT_LOOKUP_PREFIX) else "?"
    problem: str | None
    try:
        req = _REQUEST.decode(data)
        problem = _check(req)
    except msgspec.DecodeError as exc:
        req, problem = None, _scrub(str(exc))
    if req is None or problem is not None:
        digest = hashlib.sha256(data).hexdigest()
        return Lookup(
            at=stored_at,
            identity=identity,
            action="malformed",
            lookup_seq=seq,
            detail=f"{problem}; sha256 {digest} of {len(data)} bytes",
        )
    filters = tuple(f"{k}={_scrub(v)}" for k, v in sorted(req.filters.items()))
    return Lookup(
        at=stored_at, identity=identity, action=req.action, filters=filters, results=req.results, lookup_seq=seq
    )


class LookupIntake:
    """The writer's durable consumer on the lookups stream: fetch what is waiting, ack what was stored."""

    def __init__(self, nc: nats.NATS, *, batch: int = 256) -> None:
        self.nc = nc
        self.batch = batch
        self._psub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> bool:
        """Bind the consumer; False when the deployment has no lookups stream (provisioned before it)."""
        js = self.nc.jetstream()
        try:
            await js.stream_info(AUDIT_LOOKUPS_STREAM)
            self._psub = await js.pull_subscribe(
                AUDIT_LOOKUP_PREFIX + "*",
                durable=WRITER_DURABLE,
                stream=AUDIT_LOOKUPS_STREAM,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT, ack_wait=LOOKUP_ACK_WAIT, max_ack_pending=4 * self.batch
                ),
            )
        except (TimeoutError, JsError, NatsError):
            return False
        return True

    async def fetch(self, timeout: float) -> list[tuple[object, Lookup]] | None:
        """What is waiting (at most ``batch``), waiting up to ``timeout`` for the first; (message, entry).
        None: the consumer could not be asked (the connection is down)."""
        if self._psub is None:
            return None
        try:
            msgs = await self._psub.fetch(self.batch, timeout=timeout)
        except TimeoutError:
            return []
        except (JsError, NatsError):
            return None
        out: list[tuple[object, Lookup]] = []
        for m in msgs:
            meta = m.metadata
            out.append((m, lookup_entry(m.subject, meta.sequence.stream, meta.timestamp, m.data)))
        return out

    async def ack(self, msgs: list) -> None:
        for m in msgs:
            try:
                await m.ack()
            except (TimeoutError, JsError, NatsError):
                pass  # redelivered after ack_wait; the writer recognises it by its sequence

    async def close(self) -> None:
        if self._psub is not None:
            try:
                await self._psub.unsubscribe()
            except (JsError, NatsError):
                pass
            self._psub = None
