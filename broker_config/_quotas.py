"""What one agency may take of the shared broker: its limits, and the streams and accounts they shape.

Each agency file may carry a ``[limits]`` table (defaults below, docs/operating.md "What one agency
can and cannot do to the others"). They become:

* the agency's own ingest stream ``INGEST_<slug>`` in ROUTER (``ingest.<slug>.>``): its backlog in
  bytes and messages and the size of one record, ``discard: new`` so a full quota refuses the
  agency's next publish and nobody else's; work-queue retention, so a record is kept only until
  the router has routed and audited it (then acked, then gone);
* its account: ``max_connections``, ``max_payload`` (a larger message closes that connection
  only) and the JetStream storage its INBOX and DEADLETTER share;
* the retention of its INBOX and of its DEADLETTER (raw records it sent that were refused).

The ROUTER account's file storage is rendered as the sum of every stream's reservation there
(each has a ``max_bytes``), plus what the audit trail may use, so no agency-filled stream can take
the audit trail's room: the server refuses a stream past its own ``max_bytes`` first.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from samband.schemas.layout import (
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECTS,
    INBOX_STREAM,
    INBOX_SUBJECTS,
    LEDGER_STREAM,
    LEDGER_SUBJECTS,
    PARKED_STREAM,
    PARKED_SUBJECTS,
    QUARANTINE_STREAM,
    QUARANTINE_SUBJECTS,
    REVIEW_STREAM,
    REVIEW_SUBJECTS,
    ingest_stream,
    ingest_subjects,
)

from ._errors import QuotaError

__all__ = [
    "AUDIT_RESERVE",
    "DECISIONS_BYTES",
    "MAX_COSIGNATURE_BYTES",
    "REVIEW_MAX_AGE",
    "ROUTER_RESERVED",
    "SERVER_MAX_PAYLOAD",
    "WITNESS_BYTES",
    "WITNESS_KEPT",
    "AgencyLimits",
    "KiB",
    "MiB",
    "account_limits",
    "agency_js_limits",
    "agency_streams",
    "ingest_stream_config",
    "router_js_limits",
    "router_tenant_streams",
]

KiB, MiB, GiB = 1024, 1024**2, 1024**3
_DAY = 86_400.0

SERVER_MAX_PAYLOAD = 2 * MiB  # the largest message any client may send (nats-server `max_payload`)
# What JetStream may store on one server, in total. A standalone server refuses to start (or to
# add an account) when the accounts' limits together exceed it, so each account's storage is its
# own; a reload may raise it but never lower it, so it is fixed, not summed from the agencies.
# Size the disk for the accounts' limits (docs/operating.md).
SERVER_JS_LIMITS = {"max_memory_store": 1 * GiB, "max_file_store": 1024 * GiB}


class AgencyLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An agency's share of the broker (the ``[limits]`` table of its agency file)."""

    ingest_bytes: int = 256 * MiB  # INGEST_<slug> max_bytes: records waiting for the router
    ingest_messages: int = 1_000_000  # INGEST_<slug> max_msgs
    record_bytes: int = 1 * MiB  # INGEST_<slug> max_msg_size: one record, headers included
    payload_bytes: int = 3 * MiB // 2  # the account's max_payload: a dead letter carries a record of record_bytes
    connections: int = 64  # the account's max_connections (adapters, leaf node, tools)
    storage_bytes: int = 1 * GiB  # the account's JetStream file storage (INBOX + DEADLETTER)
    # INBOX max_age; unset: 30 days, 400 for a centre (a year's outcomes are reported in the next
    # year's first quarter, docs/outcomes.md)
    inbox_days: int | None = None
    deadletter_days: int = 30  # DEADLETTER max_age: raw records it sent that were refused


DEFAULT_LIMITS = AgencyLimits()

# (key, lowest, highest) each limit may take; checked with the agency file's name and key.
LIMIT_RANGES: dict[str, tuple[int, int]] = {
    "ingest_bytes": (1 * MiB, 64 * GiB),
    "ingest_messages": (1_000, 100_000_000),
    "record_bytes": (4 * KiB, SERVER_MAX_PAYLOAD - 64 * KiB),
    "payload_bytes": (64 * KiB, SERVER_MAX_PAYLOAD),
    "connections": (1, 10_000),
    "storage_bytes": (16 * MiB, 1024 * GiB),
    "inbox_days": (1, 3650),
    "deadletter_days": (1, 3650),
}


def limit_problems(limits: AgencyLimits) -> list[tuple[str, str, int]]:
    """(key, what was expected, the value) for each limit out of its range or inconsistent."""
    out = []
    for key, (lo, hi) in LIMIT_RANGES.items():
        value = getattr(limits, key)
        if value is not None and not lo <= value <= hi:
            out.append((key, f"an integer from {lo} to {hi}", value))
    if limits.record_bytes > limits.ingest_bytes:
        out.append(("record_bytes", f"at most ingest_bytes ({limits.ingest_bytes})", limits.record_bytes))
    return out


def ingest_stream_config(slug: str, limits: AgencyLimits = DEFAULT_LIMITS) -> StreamConfig:
    """The agency's ingest stream in ROUTER: its quota, refused when full, kept only until routed."""
    return StreamConfig(
        name=ingest_stream(slug),
        subjects=[ingest_subjects(slug)],
        storage=StorageType.FILE,
        retention=RetentionPolicy.WORK_QUEUE,
        discard=DiscardPolicy.NEW,
        max_bytes=limits.ingest_bytes,
        max_msgs=limits.ingest_messages,
        max_msg_size=limits.record_bytes,
        # An adapter re-reading an export within a day is deduplicated by its `Nats-Msg-Id`; beyond
        # that, the router's ledger recognises a repeated envelope id at any distance.
        duplicate_window=_DAY,
    )


def agency_streams(limits: AgencyLimits = DEFAULT_LIMITS, *, tier: str = "core") -> tuple[StreamConfig, StreamConfig]:
    """The agency's own INBOX (written by the router) and DEADLETTER, in its account, with its retention."""
    inbox_days = limits.inbox_days or (400 if tier == "centre" else 30)
    inbox = StreamConfig(
        name=INBOX_STREAM,
        subjects=[INBOX_SUBJECTS],
        storage=StorageType.FILE,
        max_age=inbox_days * _DAY,
        duplicate_window=_DAY,
    )
    deadletter = StreamConfig(
        name=DEADLETTER_STREAM,
        subjects=[DEADLETTER_SUBJECTS],
        storage=StorageType.FILE,
        max_age=limits.deadletter_days * _DAY,
        duplicate_window=_DAY,
    )
    return inbox, deadletter


# ---- the router's own streams that agencies' traffic fills ------------------------------
LEDGER_BYTES = 8 * GiB  # one small entry per routed record (envelope id -> origin, hash, ingest seq)
QUARANTINE_BYTES = 1 * GiB
PARKED_BYTES = 4 * GiB
PARKED_PER_RECIPIENT = 1_000_000  # deliveries parked for one recipient before they are given back
RECEIPTS_BYTES = 4 * GiB  # recipients' receipts (agencies write them through receipts.>)
REVIEW_BYTES = 2 * GiB  # held (record, recipient)s waiting for their originator's officer, then their outcome
REVIEW_MAX_AGE = 90 * _DAY  # an outcome is kept this long after its last change (a release twice is known)
ROUTER_RESERVED = LEDGER_BYTES + QUARANTINE_BYTES + PARKED_BYTES + RECEIPTS_BYTES + REVIEW_BYTES
# ROUTER's file storage, fixed so that a reload for an onboarding never changes the router's own
# JetStream limits; what its agency-filled streams reserve must leave the audit trail AUDIT_RESERVE.
ROUTER_FILE = 64 * GiB
AUDIT_RESERVE = 16 * GiB  # what the audit streams (and REGISTRY, DECISIONS) have beside every reservation
# The witnesses' cosignatures (AUDIT_WITNESS), of that reserve: a witness's credentials are its agency's,
# so its subject keeps only its newest WITNESS_KEPT (verify needs each witness's newest; an honest one
# cosigns at most once a look, a second by default, and only when the log grew), each at most
# MAX_COSIGNATURE_BYTES (a cosigned checkpoint is about 300), and the stream reserves its room: a
# witness that floods pushes out only its own older cosignatures, never the log's room (docs/audit.md).
WITNESS_KEPT = 20_000
MAX_COSIGNATURE_BYTES = 2 * KiB
WITNESS_BYTES = 2 * GiB  # WITNESS_KEPT full cosignatures of 51 witnesses
# The councils' decisions (DECISIONS), of that reserve too: SSO's credentials publish them, and the
# stream keeps every one (an audit entry cites DECISIONS#<seq>), so it refuses new ones when full rather
# than drop old ones. 2,048 decisions of the largest size the router reads; about 130,000 of a few kB.
DECISIONS_BYTES = 128 * MiB


def _keyed_store(name: str, subjects: str, max_bytes: int, *, max_age: float | None = None) -> StreamConfig:
    """A stream read as a table: the last entry per subject only, read directly, refused when full,
    never rolled up, deleted from or purged (what it records must not be undone from outside)."""
    return StreamConfig(
        name=name,
        subjects=[subjects],
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        max_bytes=max_bytes,
        max_age=max_age,
        discard=DiscardPolicy.NEW,
        allow_direct=True,
        allow_rollup_hdrs=False,
        deny_delete=True,
        deny_purge=True,
    )


def router_tenant_streams() -> tuple[StreamConfig, ...]:
    """Streams in ROUTER that the routing of agencies' records fills, each bounded (reserved)."""
    return (
        # The ledger (a KV bucket's stream): idempotence at any distance, never a window.
        _keyed_store(LEDGER_STREAM, LEDGER_SUBJECTS, LEDGER_BYTES),
        # Records the router could not route after a bounded number of tries (operators look here).
        StreamConfig(
            name=QUARANTINE_STREAM,
            subjects=[QUARANTINE_SUBJECTS],
            storage=StorageType.FILE,
            max_bytes=QUARANTINE_BYTES,
            max_age=30 * _DAY,
            discard=DiscardPolicy.OLD,
            duplicate_window=_DAY,
        ),
        # The review queue (router/_review.py): one entry per held (record, recipient), its minimised
        # payload only until the officer (or the lapse) decides, then the outcome alone (history 1).
        _keyed_store(REVIEW_STREAM, REVIEW_SUBJECTS, REVIEW_BYTES, max_age=REVIEW_MAX_AGE),
        # Deliveries to a recipient whose inbox refused them, in order, until it takes them.
        StreamConfig(
            name=PARKED_STREAM,
            subjects=[PARKED_SUBJECTS],
            storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE,
            max_bytes=PARKED_BYTES,
            max_msgs_per_subject=PARKED_PER_RECIPIENT,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            duplicate_window=_DAY,
        ),
    )


def router_js_limits(limits: Iterable[AgencyLimits], *, replicas: int = 1) -> dict:
    """ROUTER's JetStream limits; `QuotaError` if the agencies' ingest quotas would leave the audit trail
    less than `AUDIT_RESERVE` (every agency-filled stream there reserves its ``max_bytes``).

    The server counts a stream's reservation once per replica against an account's (untiered) limit."""
    ingest = sum(x.ingest_bytes for x in limits)
    if ingest + ROUTER_RESERVED + AUDIT_RESERVE > ROUTER_FILE:
        raise QuotaError(
            f"Expected the agencies' ingest quotas to total at most "
            f"{(ROUTER_FILE - ROUTER_RESERVED - AUDIT_RESERVE) // MiB} MiB (the router's storage less the audit "
            f"trail's reserve), got {ingest // MiB} MiB - at `limits.ingest_bytes`"
        )
    return {
        "max_mem": 256 * MiB,
        "max_file": replicas * ROUTER_FILE,
        "max_streams": 256,
        "max_consumers": 1024,
    }


def agency_js_limits(limits: AgencyLimits) -> dict:
    """An agency account's JetStream: its INBOX and DEADLETTER, and its own consumers of them."""
    return {"max_mem": 8 * MiB, "max_file": limits.storage_bytes, "max_streams": 4, "max_consumers": 64}


def account_limits(limits: AgencyLimits) -> dict:
    """The agency account's connection and payload limits (nats-server account ``limits``)."""
    return {"max_connections": limits.connections, "max_payload": limits.payload_bytes}
