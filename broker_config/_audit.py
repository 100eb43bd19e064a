"""The audit log's streams, its identities, and what each may do: enforced by the broker, not the client.

Streams (router account): ``AUDIT`` (the log: bundles, leaf hashes, per-agency views,
checkpoints; each append one unbroken chain; refuses delete, purge and rollups), ``AUDIT_WITNESS`` (witness
cosignatures) and the KV bucket ``AUDIT_LEASE`` (the one-writer lease). They are made and
changed only by **audit-admin**, whose seed lives apart from the running deployment
(``<state>/admin/``, or ``SAMBAND_ADMIN_DIR``): no identity used at run time may change them.

Who may do what (each identity in the router's account with an inbox prefix of its own, so
none can listen to another's replies):

* **router** (the writer): publishes the log's subjects and the lease; may not create,
  change, delete or purge the audit streams, nor write a cosignature.
* **steward** (operators, provisions the other streams): may not publish on ``audit.>`` or
  the lease, change the audit streams, or read the log (no consumer, no get on AUDIT).
* **auditor** (oversight): reads AUDIT, AUDIT_WITNESS and RECEIPTS, the lease's holder and
  the counts of QUARANTINE and PARKED (`samband status`); writes nothing.
* **auditor-<agency>** (the agency's security chief): creates consumers on AUDIT only under
  its fixed names and only filtered to its own view, the leaf hashes or the checkpoints (the
  server refuses any other filter), gets the newest checkpoint, reads the cosignatures; no
  direct or message get on AUDIT, no stream info.
* **witness-<agency>**: reads the leaf hashes and checkpoints the same way and publishes
  only its own cosignature subject.
* **reviewer-<agency>** (the originator's review officer, router/_review.py): publishes only the
  review requests of its own agency (``review.<agency>.*``), which the router answers; it reads
  no stream: the broker, not the client, keeps it to its own agency's held records.

For `samband console`, each auditor identity (the oversight and every ``auditor-<agency>``) may
also publish its own lookups on ``audit.lookup.<identity>`` only (stream ``AUDIT_LOOKUPS``, which
the writer drains into the log); an agency's auditor may read the councils' DECISIONS and the
REGISTRY (the policy in force), its own agency's receipts (a consumer on RECEIPTS filtered to
``receipt.<agency>.>``), and, through service imports of its agency's JetStream read APIs under
``chief.<agency>.``, its agency's own DEADLETTER stream (and a reporting agency's INBOX, for the
outcomes report). No other identity of the router's account may use those imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.observability.audit import LEASE_TTL, LOOKUPS_CONFIG, ensure_witness_key, load_or_create_signing_key
from samband.schemas.layout import (
    AUDIT_ADMIN,
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_COSIGNATURE_PREFIX,
    AUDIT_LEASE_BUCKET,
    AUDIT_LOOKUP_PREFIX,
    AUDIT_LOOKUPS_STREAM,
    AUDIT_STREAM,
    AUDIT_SUBJECTS,
    AUDIT_TREE_SUBJECT,
    AUDIT_WITNESS_STREAM,
    DEADLETTER_STREAM,
    DECISIONS_STREAM,
    INBOX_STREAM,
    OVERSIGHT,
    PARKED_STREAM,
    QUARANTINE_STREAM,
    RECEIPTS_STREAM,
    REGISTRY_STREAM,
    audit_consumer_names,
    auditor_identity,
    chief_api_prefix,
    cosignature_subject,
    identity_agency,
    lookup_subject,
    review_request_subject,
    reviewer_identity,
    view_subject,
    witness_identity,
)

from ._agencies import Agency
from ._creds import Credentials
from ._errors import BrokerUnavailable
from ._permissions import stream_reads
from ._quotas import MAX_COSIGNATURE_BYTES, WITNESS_BYTES, WITNESS_KEPT

__all__ = [
    "AUDIT_CONFIG_APIS",
    "AUDIT_STREAM_CONFIG",
    "AUDIT_WITNESS_CONFIG",
    "LEASE_STREAM",
    "audit_users",
    "chief_exports",
    "chief_imports",
    "ensure_audit_keys",
    "inbox_prefix",
    "provision_audit",
    "router_denies",
    "steward_denies",
]

LEASE_STREAM = f"KV_{AUDIT_LEASE_BUCKET}"
OVERSIGHT_STREAMS = (AUDIT_STREAM, AUDIT_WITNESS_STREAM, RECEIPTS_STREAM, DECISIONS_STREAM, REGISTRY_STREAM)
AUDIT_STREAM_NAMES = (AUDIT_STREAM, AUDIT_WITNESS_STREAM, LEASE_STREAM, AUDIT_LOOKUPS_STREAM)
# What an agency's auditor reads of its own agency's account (service imports under chief.<agency>.):
# the stream's state and a message by sequence (or the next on a subject). A reporting agency (one
# with the follow-up purpose: the Ruc, the national follow-up) lends its INBOX too, for its outcomes.
CHIEF_READS = ("STREAM.INFO", "STREAM.MSG.GET")
REPORTING_PURPOSE = "follow_up"
# What `samband status` reads as the oversight besides: who holds the writer's lease (its one
# key, not the bucket's history) and the per-agency counts of what is held back (stream info
# only: the counts per subject, never a quarantined record or a parked delivery).
_STATUS_READS = (
    f"$JS.API.STREAM.MSG.GET.{LEASE_STREAM}",
    f"$JS.API.STREAM.INFO.{QUARANTINE_STREAM}",
    f"$JS.API.STREAM.INFO.{PARKED_STREAM}",
)

AUDIT_STREAM_CONFIG = StreamConfig(
    name=AUDIT_STREAM,
    subjects=list(AUDIT_SUBJECTS),
    storage=StorageType.FILE,
    retention=RetentionPolicy.LIMITS,
    deny_delete=True,
    deny_purge=True,
    allow_rollup_hdrs=False,
    discard=DiscardPolicy.NEW,
    allow_direct=True,
)
# Bounded per witness and reserved (_quotas.py: WITNESS_KEPT): a flood of one witness pushes out its own
# older cosignatures only, and no witness can take the log's room.
AUDIT_WITNESS_CONFIG = StreamConfig(
    name=AUDIT_WITNESS_STREAM,
    subjects=[AUDIT_COSIGNATURE_PREFIX + "*"],
    storage=StorageType.FILE,
    max_msgs_per_subject=WITNESS_KEPT,
    max_msg_size=MAX_COSIGNATURE_BYTES,
    max_bytes=WITNESS_BYTES,
    discard=DiscardPolicy.OLD,
    deny_delete=True,
    deny_purge=True,
    allow_rollup_hdrs=False,
    allow_direct=True,
    duplicate_window=86_400.0,
)

# What changes an audit stream's configuration (a lower max_msgs with discard=old drops the
# oldest entries; a new stream of the same name would start another log).
AUDIT_CONFIG_APIS = [f"$JS.API.STREAM.{op}.{s}" for s in AUDIT_STREAM_NAMES for op in ("CREATE", "UPDATE")]
_READ_AUDIT = [
    f"$JS.API.DIRECT.GET.{AUDIT_STREAM}",
    f"$JS.API.DIRECT.GET.{AUDIT_STREAM}.>",
    f"$JS.API.STREAM.MSG.GET.{AUDIT_STREAM}",
    f"$JS.API.CONSUMER.CREATE.{AUDIT_STREAM}",
    f"$JS.API.CONSUMER.CREATE.{AUDIT_STREAM}.>",
    f"$JS.API.CONSUMER.DURABLE.CREATE.{AUDIT_STREAM}.>",
]


def router_denies() -> list[str]:
    """What the writer may not do beyond the destructive APIs: change the audit streams, cosign, record a
    lookup in an auditor's name, read an agency's dead letters."""
    return [*AUDIT_CONFIG_APIS, AUDIT_COSIGNATURE_PREFIX + ">", AUDIT_LOOKUP_PREFIX + ">", "chief.>"]


def steward_denies() -> list[str]:
    """The steward provisions the other streams; the log is not its to write, change or read, nor an
    agency's dead letters."""
    return [*AUDIT_CONFIG_APIS, "audit.>", f"$KV.{AUDIT_LEASE_BUCKET}.>", *_READ_AUDIT, "chief.>"]


def _chief_streams(agency: Agency) -> tuple[str, ...]:
    return (DEADLETTER_STREAM, INBOX_STREAM) if REPORTING_PURPOSE in agency.purposes else (DEADLETTER_STREAM,)


def chief_exports(agency: Agency) -> list[dict]:
    """The agency account's exports of its own read APIs to the router's account (for its auditor only)."""
    from ._render import ROUTER_ACCOUNT

    return [
        {"service": f"$JS.API.{api}.{stream}", "accounts": [ROUTER_ACCOUNT]}
        for stream in _chief_streams(agency)
        for api in CHIEF_READS
    ]


def chief_imports(agencies: Iterable[Agency]) -> list[dict]:
    """The router account's imports of each agency's read APIs, under ``chief.<agency>.`` (a JetStream
    API prefix): only that agency's auditor may publish there."""
    return [
        {
            "service": {"account": a.slug, "subject": f"$JS.API.{api}.{stream}"},
            "to": f"{chief_api_prefix(a.slug)}.{api}.{stream}",
        }
        for a in agencies
        for stream in _chief_streams(a)
        for api in CHIEF_READS
    ]


def inbox_prefix(identity: str) -> str | None:
    """The inbox prefix of an identity of the router's account other than the router: its own, so that
    none of them may listen to another's replies (None: the router, SSO, the agencies, the system admin)."""
    if identity in ("steward", OVERSIGHT, AUDIT_ADMIN) or identity_agency(identity) is not None:
        return f"_INBOX_{identity}"
    return None


def _scoped_reads(identity: str, filters: list[str]) -> list[str]:
    """Consumers on AUDIT under this identity's fixed names, each filtered to one of ``filters`` only."""
    out = [f"$JS.API.DIRECT.GET.{AUDIT_STREAM}.{AUDIT_CHECKPOINT_SUBJECT}"]
    for name in audit_consumer_names(identity):
        out += [f"$JS.API.CONSUMER.CREATE.{AUDIT_STREAM}.{name}.{f}" for f in filters]
        out += [f"$JS.API.CONSUMER.{op}.{AUDIT_STREAM}.{name}" for op in ("MSG.NEXT", "INFO", "DELETE")]
    return out


def _user(creds: Credentials, identity: str, publish: list[str], deny: list[str] | None = None) -> dict:
    prefix = inbox_prefix(identity)
    assert prefix is not None
    pub: dict = {"allow": publish}
    if deny:
        pub["deny"] = deny
    return {
        "nkey": creds.ensure(identity),
        "permissions": {"publish": pub, "subscribe": {"allow": [f"{prefix}.>"]}},
    }


def _receipt_reads(identity: str, agency: str) -> list[str]:
    """Consumers on RECEIPTS under the identity's fixed names, filtered to the agency's own receipts."""
    out = []
    for name in audit_consumer_names(identity):
        out.append(f"$JS.API.CONSUMER.CREATE.{RECEIPTS_STREAM}.{name}.receipt.{agency}.>")
        out += [f"$JS.API.CONSUMER.{op}.{RECEIPTS_STREAM}.{name}" for op in ("MSG.NEXT", "INFO", "DELETE")]
    return out


def audit_users(creds: Credentials, agencies: Iterable[Agency], js_deny_destructive: list[str]) -> list[dict]:
    """The router account's audit identities: oversight, admin, and per agency its auditor, witness and reviewer."""
    users = [
        # the oversight also reads the receipts (`audit reconcile`) and the governance streams
        # (the councils' DECISIONS and the agency REGISTRY, for `samband decision`)
        _user(
            creds,
            OVERSIGHT,
            [
                *(s for stream in OVERSIGHT_STREAMS for s in stream_reads(stream)),
                lookup_subject(OVERSIGHT),
                *_STATUS_READS,
            ],
        ),
        _user(creds, AUDIT_ADMIN, [">"], js_deny_destructive),
    ]
    witness_reads = stream_reads(AUDIT_WITNESS_STREAM)
    policy_reads = [s for stream in (DECISIONS_STREAM, REGISTRY_STREAM) for s in stream_reads(stream)]
    for a in sorted(agencies, key=lambda a: a.slug):
        auditor = auditor_identity(a.slug)
        filters = [view_subject(a.slug), AUDIT_TREE_SUBJECT, AUDIT_CHECKPOINT_SUBJECT]
        chief = [f"{chief_api_prefix(a.slug)}.{api}.{stream}" for stream in _chief_streams(a) for api in CHIEF_READS]
        users.append(
            _user(
                creds,
                auditor,
                [
                    *_scoped_reads(auditor, filters),
                    *witness_reads,
                    *policy_reads,
                    *_receipt_reads(auditor, a.slug),
                    *chief,
                    lookup_subject(auditor),
                ],
            )
        )
        witness = witness_identity(a.slug)
        filters = [AUDIT_TREE_SUBJECT, AUDIT_CHECKPOINT_SUBJECT]
        users.append(_user(creds, witness, [*_scoped_reads(witness, filters), cosignature_subject(a.slug)]))
        users.append(_user(creds, reviewer_identity(a.slug), [review_request_subject(a.slug, "*")]))
    return users


def ensure_audit_keys(state_dir: Path, agencies: Iterable[Agency]) -> None:
    """The log's signing key and every agency's witness key, made at setup (0600), with their verifier
    keys in ``<state>/keys`` to pin: an auditor can verify before the router first ran."""
    load_or_create_signing_key(state_dir / "keys")
    for a in agencies:
        ensure_witness_key(state_dir, a.slug)


async def provision_audit(nc: nats.NATS, *, replicas: int = 1) -> None:
    """Create or update AUDIT, AUDIT_WITNESS, AUDIT_LOOKUPS and the lease bucket (as audit-admin)."""
    import dataclasses

    js = nc.jetstream()
    try:
        for cfg in (AUDIT_STREAM_CONFIG, AUDIT_WITNESS_CONFIG, LOOKUPS_CONFIG):
            cfg = dataclasses.replace(cfg, num_replicas=replicas) if replicas != 1 else cfg
            try:
                await js.stream_info(cfg.name or "")
            except NotFoundError:
                await js.add_stream(cfg)
            else:
                await js.update_stream(cfg)
        try:
            await js.stream_info(LEASE_STREAM)
        except NotFoundError:
            await js.create_key_value(
                KeyValueConfig(
                    bucket=AUDIT_LEASE_BUCKET, history=1, ttl=LEASE_TTL, storage=StorageType.FILE, replicas=replicas
                )
            )
    except (JsError, NatsError) as exc:
        raise BrokerUnavailable(f"Expected the audit streams to be made, got {exc!r}") from exc


async def audit_streams_exist(nc: nats.NATS) -> list[str]:
    """The audit streams missing from the router's account (checked by an identity that may not make them)."""
    js = nc.jetstream()
    missing = []
    for name in AUDIT_STREAM_NAMES:
        try:
            await js.stream_info(name)
        except NotFoundError:
            missing.append(name)
        except (TimeoutError, JsError, NatsError) as exc:
            raise BrokerUnavailable(f"Expected to read stream {name}, got {exc!r}") from exc
    return missing
