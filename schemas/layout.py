"""Where things are on the bus and in its stored bytes: named once, imported everywhere.

Stream names, subjects and the router's durable consumer (see `_bus.py` for what travels on
each subject and who may write it), the byte layout of a stored audit record that verifiers
read without decoding, and the ids of the legal bases the code names. The broker recipe in
broker_config and the router, the audit trail and the adapters all import these, so a rename
is one edit (Tessera's ``api/layout`` habit).
"""

from __future__ import annotations

__all__ = [
    "AUDIT_CHECKPOINT_STREAM",
    "AUDIT_CHECKPOINT_SUBJECT",
    "AUDIT_RECORD_PREV",
    "AUDIT_RECORD_SEQ_AT",
    "AUDIT_STREAM",
    "AUDIT_SUBJECT",
    "DEADLETTER_STREAM",
    "DEADLETTER_SUBJECTS",
    "DECISIONS_STREAM",
    "DECISIONS_SUBJECTS",
    "INBOX_STREAM",
    "INBOX_SUBJECTS",
    "INGEST_STREAM",
    "INGEST_SUBJECTS",
    "LUS",
    "OUTBOUND_SUBJECTS",
    "RECEIPTS_STREAM",
    "RECEIPTS_SUBJECTS",
    "REGISTRATION_PREFIX",
    "REGISTRY_STREAM",
    "REGISTRY_SUBJECTS",
    "ROUTER_DURABLE",
    "decision_subject",
    "delivery_subject",
    "ingest_origin",
]

# ---- the router's account --------------------------------------------------------------
INGEST_STREAM, INGEST_SUBJECTS = "INGEST", "ingest.>"  # ingest.<origin>.<record type>
ROUTER_DURABLE = "router"  # the router's durable pull consumer on INGEST
REGISTRY_STREAM, REGISTRY_SUBJECTS = "REGISTRY", "registry.>"
REGISTRATION_PREFIX = "registry.agencies."  # + the agency's slug
DECISIONS_STREAM, DECISIONS_SUBJECTS = "DECISIONS", "decisions.>"
RECEIPTS_STREAM, RECEIPTS_SUBJECTS = "RECEIPTS", "receipt.>"  # receipt.<agency>.<key>
AUDIT_STREAM, AUDIT_SUBJECT = "AUDIT", "audit.records"
AUDIT_CHECKPOINT_STREAM, AUDIT_CHECKPOINT_SUBJECT = "AUDIT_CHECKPOINTS", "audit.checkpoints"

# ---- each agency's account -------------------------------------------------------------
OUTBOUND_SUBJECTS = "out.>"  # what an agency publishes; the router sees ingest.<agency>.>
INBOX_STREAM, INBOX_SUBJECTS = "INBOX", "in.>"  # the router writes it through inbox.<agency>.>
DEADLETTER_STREAM, DEADLETTER_SUBJECTS = "DEADLETTER", "dlq.>"


def delivery_subject(recipient: str, record_type: str) -> str:
    """Where the router delivers a record to ``recipient`` (a service import of its ``in.>``)."""
    return f"inbox.{recipient}.{record_type}"


def decision_subject(kind: str, target: str) -> str:
    """Where a council's decision is published: ``decisions.operation.<id>`` or ``decisions.cooption.<id>``."""
    return f"decisions.{kind}.{target}"


def ingest_origin(subject: str) -> str:
    """The origin token of ``ingest.<origin>.<record type>``: written by the server from the account."""
    return subject.split(".", 2)[1]


# ---- a stored audit record: ``{"prev":"<64 hex>","seq":<n>,...`` -----------------------
AUDIT_RECORD_PREV = slice(9, 73)  # `{"prev":"` is 9 bytes; the previous record's hex sha256 follows
AUDIT_RECORD_SEQ_AT = 81  # `{"prev":"<64 hex>","seq":` is 81 bytes; the sequence follows

# ---- legal bases the code names ----------------------------------------------------------
LUS = "LUS 2016:774"  # lag (2016:774) om uppgiftsskyldighet vid samverkan mot viss organiserad brottslighet
