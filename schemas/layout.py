"""Where things are on the bus and in its stored bytes: named once, imported everywhere.

Stream names, subjects and the router's durable consumer (see `_bus.py` for what travels on
each subject and who may write it), the audit log's subjects, identities and consumer names
(the broker's permissions are written against them), and the ids of the legal bases the code
names. The broker recipe in broker_config and the router, the audit log and the adapters all
import these, so a rename is one edit (Tessera's ``api/layout`` habit).
"""

from __future__ import annotations

__all__ = [
    "AUDIT_ADMIN",
    "AUDIT_CHECKPOINT_SUBJECT",
    "AUDIT_CONSUMER_SLOTS",
    "AUDIT_COSIGNATURE_PREFIX",
    "AUDIT_LEASE_BUCKET",
    "AUDIT_LEASE_KEY",
    "AUDIT_LOG_SUBJECT",
    "AUDIT_LOOKUPS_STREAM",
    "AUDIT_LOOKUP_PREFIX",
    "AUDIT_STREAM",
    "AUDIT_SUBJECTS",
    "AUDIT_TREE_SUBJECT",
    "AUDIT_VIEW_PREFIX",
    "AUDIT_WITNESS_STREAM",
    "DEADLETTER_STREAM",
    "DEADLETTER_SUBJECTS",
    "DECISIONS_STREAM",
    "DECISIONS_SUBJECTS",
    "INBOX_STREAM",
    "INBOX_SUBJECTS",
    "INGEST_PREFIX",
    "INGEST_SUBJECTS",
    "LEDGER_BUCKET",
    "LEDGER_STREAM",
    "LEDGER_SUBJECTS",
    "LUS",
    "OUTBOUND_SUBJECTS",
    "OVERSIGHT",
    "PARKED_STREAM",
    "PARKED_SUBJECTS",
    "QUARANTINE_STREAM",
    "QUARANTINE_SUBJECTS",
    "RECEIPTS_STREAM",
    "RECEIPTS_SUBJECTS",
    "REGISTRATION_PREFIX",
    "REGISTRY_STREAM",
    "REGISTRY_SUBJECTS",
    "REVIEW_BUCKET",
    "REVIEW_REQUESTS",
    "REVIEW_STREAM",
    "REVIEW_SUBJECTS",
    "ROUTER_DEADLETTER_SUBJECTS",
    "ROUTER_DURABLE",
    "audit_consumer_names",
    "auditor_identity",
    "chief_api_prefix",
    "cosignature_subject",
    "deadletter_subject",
    "decision_subject",
    "delivery_subject",
    "identity_agency",
    "ingest_origin",
    "ingest_stream",
    "ingest_subjects",
    "ledger_subject",
    "lookup_subject",
    "parked_subject",
    "quarantine_subject",
    "review_key",
    "review_request_subject",
    "reviewer_identity",
    "view_subject",
    "witness_identity",
]

# ---- the router's account --------------------------------------------------------------
# Each agency's records wait in a stream of its own, INGEST_<agency> on ingest.<agency>.>, with
# the agency's quota (broker_config/_quotas.py); the router pulls from all of them fairly.
INGEST_PREFIX, INGEST_SUBJECTS = "INGEST_", "ingest.>"  # ingest.<origin>.<record type>
ROUTER_DURABLE = "router"  # the router's durable pull consumer on each INGEST_<agency>
# The ledger: envelope id -> (origin, content hash, ingest sequence) of every routed record, a KV bucket.
LEDGER_BUCKET = "LEDGER"
LEDGER_STREAM, LEDGER_SUBJECTS = f"KV_{LEDGER_BUCKET}", f"$KV.{LEDGER_BUCKET}.>"
QUARANTINE_STREAM, QUARANTINE_SUBJECTS = "QUARANTINE", "quarantine.>"  # quarantine.<origin>.<stage>
PARKED_STREAM, PARKED_SUBJECTS = "PARKED", "parked.>"  # parked.<recipient>: its refused deliveries, in order
REGISTRY_STREAM, REGISTRY_SUBJECTS = "REGISTRY", "registry.>"
REGISTRATION_PREFIX = "registry.agencies."  # + the agency's slug
DECISIONS_STREAM, DECISIONS_SUBJECTS = "DECISIONS", "decisions.>"
RECEIPTS_STREAM, RECEIPTS_SUBJECTS = "RECEIPTS", "receipt.>"  # receipt.<agency>.<key>
# The review queue (the originator's balancing test, router/_review.py): a KV bucket, one entry per
# held (record, recipient), keyed <origin>.<envelope id>.<recipient>; its officers ask the router on
# review.<origin>.<verb>, a subject the broker lets only reviewer-<origin> publish on.
REVIEW_BUCKET = "REVIEW"
REVIEW_STREAM, REVIEW_SUBJECTS = f"KV_{REVIEW_BUCKET}", f"$KV.{REVIEW_BUCKET}.>"
REVIEW_REQUESTS = "review.*.*"  # review.<origin>.<verb>

# ---- the audit log (observability/audit; who may do what: broker_config/_audit.py) ----------
# One stream, written only by the log's writer, one atomic batch per append: the entries'
# bundle(s) on `audit.log`, their leaf hashes on `audit.tree`, each party's copy of its entries
# on `audit.view.<agency>`, and the signed checkpoint on `audit.checkpoint`, in that order.
AUDIT_STREAM = "AUDIT"
AUDIT_LOG_SUBJECT = "audit.log"
AUDIT_TREE_SUBJECT = "audit.tree"
AUDIT_VIEW_PREFIX = "audit.view."  # + the agency's slug
AUDIT_CHECKPOINT_SUBJECT = "audit.checkpoint"
AUDIT_SUBJECTS = (AUDIT_LOG_SUBJECT, AUDIT_TREE_SUBJECT, AUDIT_VIEW_PREFIX + "*", AUDIT_CHECKPOINT_SUBJECT)
# Witnesses' cosignatures, beside the checkpoints: each witness writes only its own subject.
AUDIT_WITNESS_STREAM = "AUDIT_WITNESS"
AUDIT_COSIGNATURE_PREFIX = "audit.cosignature."  # + the witnessing agency's slug
# Auditors' lookups (a person search, an export in `samband console`): each audit identity may
# publish only on its own subject, so the identity is the broker's word; the writer drains the
# stream into the log as `lookup` entries (observability/audit/_lookups.py).
AUDIT_LOOKUPS_STREAM = "AUDIT_LOOKUPS"
AUDIT_LOOKUP_PREFIX = "audit.lookup."  # + the identity (`auditor`, `auditor-<agency>`)
# The one-writer lease: a KV key with a TTL, renewed by compare-and-set.
AUDIT_LEASE_BUCKET, AUDIT_LEASE_KEY = "AUDIT_LEASE", "writer"

# Identities of the audit log (nkey users in the router's account). An agency's slug has no
# `-` (broker_config's SLUG_PATTERN), so these never collide with one.
OVERSIGHT = "auditor"  # reads the whole log
AUDIT_ADMIN = "audit-admin"  # provisions the audit streams; its seed is kept apart from the deployment
AUDIT_CONSUMER_SLOTS = 4  # a scoped identity reads through consumers of these fixed names only


def view_subject(agency: str) -> str:
    """Where the writer puts ``agency``'s copy of the entries it is origin or recipient of."""
    return AUDIT_VIEW_PREFIX + agency


def lookup_subject(identity: str) -> str:
    """Where ``identity`` records a lookup of its own (its permissions allow this one subject)."""
    return AUDIT_LOOKUP_PREFIX + identity


def chief_api_prefix(agency: str) -> str:
    """The JetStream API prefix under which ``auditor-<agency>`` reads its agency's own DEADLETTER
    stream (and, for a reporting agency, the outcomes in its INBOX) from the router's account:
    service imports of the agency account's read APIs (broker_config/_audit.py)."""
    return f"chief.{agency}"


def cosignature_subject(agency: str) -> str:
    return AUDIT_COSIGNATURE_PREFIX + agency


def auditor_identity(agency: str) -> str:
    """The agency's security chief: reads its own view, the leaf hashes and the checkpoints."""
    return f"auditor-{agency}"


def witness_identity(agency: str) -> str:
    """The agency's witness: reads leaf hashes and checkpoints, writes its own cosignatures."""
    return f"witness-{agency}"


def reviewer_identity(agency: str) -> str:
    """The agency's review officer: lists, releases and withholds only its own agency's held records."""
    return f"reviewer-{agency}"


def review_request_subject(agency: str, verb: str) -> str:
    return f"review.{agency}.{verb}"


def review_key(origin: str, envelope_id: str, recipient: str) -> str:
    """A held (record, recipient) in the REVIEW bucket (envelope ids are UUIDs or ULIDs: no dots)."""
    return f"{origin}.{envelope_id}.{recipient}"


def identity_agency(identity: str) -> str | None:
    """The agency of a scoped identity (``auditor-X``, ``witness-X`` or ``reviewer-X``), else None."""
    for prefix in ("auditor-", "witness-", "reviewer-"):
        if identity.startswith(prefix) and len(identity) > len(prefix):
            return identity[len(prefix) :]
    return None


def audit_consumer_names(identity: str) -> tuple[str, ...]:
    """The only consumer names a scoped identity may create on AUDIT (its permissions name them)."""
    return tuple(f"{identity}-{slot}" for slot in range(AUDIT_CONSUMER_SLOTS))


# ---- each agency's account -------------------------------------------------------------
OUTBOUND_SUBJECTS = "out.>"  # what an agency publishes; the router sees ingest.<agency>.>
INBOX_STREAM, INBOX_SUBJECTS = "INBOX", "in.>"  # the router writes it through inbox.<agency>.>
DEADLETTER_STREAM, DEADLETTER_SUBJECTS = "DEADLETTER", "dlq.>"
# The part of an agency's dlq.> it exports to the router only: the router writes there why it
# refused one of the agency's records (ROUTER imports it as deadletter.<agency>.>).
ROUTER_DEADLETTER_SUBJECTS = "dlq.router.>"


def ingest_stream(origin: str) -> str:
    """The stream holding ``origin``'s records until the router has routed them."""
    return f"{INGEST_PREFIX}{origin}"


def ingest_subjects(origin: str) -> str:
    return f"ingest.{origin}.>"


def delivery_subject(recipient: str, record_type: str) -> str:
    """Where the router delivers a record to ``recipient`` (a service import of its ``in.>``)."""
    return f"inbox.{recipient}.{record_type}"


def decision_subject(kind: str, target: str) -> str:
    """Where a council's decision is published: ``decisions.operation.<id>`` or ``decisions.cooption.<id>``."""
    return f"decisions.{kind}.{target}"


def ingest_origin(subject: str) -> str:
    """The origin token of ``ingest.<origin>.<record type>``: written by the server from the account."""
    return subject.split(".", 2)[1]


def deadletter_subject(origin: str, rule: str) -> str:
    """Where the router writes a refusal into ``origin``'s own DEADLETTER (``dlq.router.<rule>`` there)."""
    return f"deadletter.{origin}.{rule}"


def ledger_subject(envelope_id: str) -> str:
    return f"$KV.{LEDGER_BUCKET}.{envelope_id}"


def parked_subject(recipient: str) -> str:
    return f"parked.{recipient}"


def quarantine_subject(origin: str, stage: str) -> str:
    return f"quarantine.{origin}.{stage}"


# ---- legal bases the code names ----------------------------------------------------------
LUS = "LUS 2016:774"  # lag (2016:774) om uppgiftsskyldighet vid samverkan mot viss organiserad brottslighet
