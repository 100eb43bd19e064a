"""Every subject of the bus, as data: where it lives, what travels on it, who writes and who reads.

Kept here (not imported from broker_config, which depends on us) so the AsyncAPI document
can describe the bus; tests/schemas check it against the rendered server configuration's
recipe in broker_config/_render.py and the streams in broker_config/_deployment.py.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BUS_SUBJECTS", "BusSubject"]


class BusSubject(NamedTuple):
    channel: str  # the AsyncAPI channel id
    address: str  # the NATS subject, parameters in braces
    account: str  # whose NATS account the subject is in: `agency`, `ROUTER` or `SSO`
    stream: str | None  # the JetStream stream that stores it
    message: str  # the message name (see MESSAGES in _export.py)
    sender: str
    receiver: str
    description: str


BUS_SUBJECTS: tuple[BusSubject, ...] = (
    BusSubject(
        "outbound",
        "out.{recordType}",
        "agency",
        "INGEST_{agency}",
        "envelope",
        "the agency's adapter",
        "the router",
        "An agency publishes a record it shares. `out.>` is a service import of the router's `ingest.<agency>.>`: "
        "the PubAck comes from the agency's own ingest stream in the router's account (its quota), "
        "`Nats-Msg-Id` dedupes re-reads. `<recordType>` must be the payload's type and one the agency's file "
        "lists in `sends`.",
    ),
    BusSubject(
        "ingest",
        "ingest.{agency}.{recordType}",
        "ROUTER",
        "INGEST_{agency}",
        "envelope",
        "an agency (through `out.>`)",
        "the router",
        "What the router sees of an agency's `out.<type>`. The agency token is set by the server from the publishing "
        "account (`account_token_position: 2`), so origin cannot be forged. One work-queue stream per agency, with "
        "the agency's limits: a record is kept until the router has routed and audited it.",
    ),
    BusSubject(
        "ledger",
        "$KV.LEDGER.{envelopeId}",
        "ROUTER",
        "KV_LEDGER",
        "ledgerEntry",
        "the router",
        "the router",
        "Every routed envelope id, with its origin, the hash of its bytes and its INGEST sequence: a repeated id is "
        "recognised at any distance (a no-op if the same record, `deny.reused-id` if not).",
    ),
    BusSubject(
        "review",
        "$KV.REVIEW.{agency}.{envelopeId}.{recipient}",
        "ROUTER",
        "KV_REVIEW",
        "reviewHold",
        "the router",
        "the router",
        "A record its originator reviews before disclosure (LUS 2 §), held for one recipient: the minimised copy "
        "that recipient would get, only while it waits, then the officer's outcome (released, withheld) or its "
        "lapse, without the copy (docs/governance.md).",
    ),
    BusSubject(
        "reviewRequests",
        "review.{agency}.{verb}",
        "ROUTER",
        None,
        "reviewRequest",
        "the agency's review officer (`reviewer-<agency>`)",
        "the router",
        "The originator's officer lists, shows, releases or withholds its agency's held records; the broker lets "
        "only `reviewer-<agency>` publish on its own agency's token, so the router takes the agency from the subject.",
    ),
    BusSubject(
        "quarantine",
        "quarantine.{agency}.{stage}",
        "ROUTER",
        "QUARANTINE",
        "envelope",
        "the router",
        "the operators",
        "A record the router could not route within its tries, as it came, with `Samband-Reason`, "
        "`Samband-Attempts` and `Samband-Ingest` headers; audited as `deny.quarantined`.",
    ),
    BusSubject(
        "parked",
        "parked.{agency}",
        "ROUTER",
        "PARKED",
        "envelope",
        "the router",
        "the router",
        "Deliveries to an agency whose inbox refused or did not answer, in order, until it takes them "
        "(`Samband-Subject` and `Samband-Msg-Id` say where and under which dedupe id).",
    ),
    BusSubject(
        "refusals",
        "deadletter.{agency}.{rule}",
        "ROUTER",
        "DEADLETTER",
        "deadLetter",
        "the router",
        "the agency's IT team",
        "The router's word on a record of the agency's that it refused, with the raw record: a service import of "
        "the agency's `dlq.router.>`, so it lands in the agency's own DEADLETTER.",
    ),
    BusSubject(
        "routerDeadLetters",
        "dlq.router.{rule}",
        "agency",
        "DEADLETTER",
        "deadLetter",
        "the router (through `deadletter.<agency>.>`)",
        "the agency's IT team",
        "Records of the agency's that the router refused (`deny.invalid-envelope`, `deny.type-mismatch`, "
        "`deny.not-a-sender-of-type`, `deny.forged-origin`, `deny.reused-id`), with the reason and the raw record.",
    ),
    BusSubject(
        "delivery",
        "inbox.{agency}.{recordType}",
        "ROUTER",
        "INBOX",
        "envelope",
        "the router",
        "the recipient agency",
        "The router delivers a minimised record to one recipient, after its audit record is durable. A service import "
        "of the agency's `in.>`; the PubAck comes from the recipient's own INBOX stream "
        "(dedupe id `<envelope id>:<recipient>`).",
    ),
    BusSubject(
        "inbox",
        "in.{recordType}",
        "agency",
        "INBOX",
        "envelope",
        "the router (through `inbox.<agency>.>`)",
        "the agency's adapter",
        "What the recipient reads: its INBOX stream in its own account. Only the router can write it.",
    ),
    BusSubject(
        "deadLetters",
        "dlq.{reason}",
        "agency",
        "DEADLETTER",
        "deadLetter",
        "the agency's adapter",
        "the agency's IT team",
        "A native record the adapter rejected, with the reason; kept in the agency's own account "
        "(no other party needs it).",
    ),
    BusSubject(
        "decisions",
        "decisions.{kind}.{decisionId}",
        "ROUTER",
        "DECISIONS",
        "envelope",
        "SSO (the councils' secretariat)",
        "the router",
        "Operation and co-option decisions of the councils, each in an envelope (`council.operation_decision`, "
        "`council.cooption_decision`). Exported by ROUTER to the SSO account only; routing changes live.",
    ),
    BusSubject(
        "registry",
        "registry.agencies.{agency}",
        "ROUTER",
        "REGISTRY",
        "agencyRegistration",
        "onboarding",
        "the router",
        "An agency joined, changed or left (`platform.agency_registration`, bare, not in an envelope).",
    ),
    BusSubject(
        "receiptsOut",
        "receipts.{receiptKey}",
        "agency",
        "RECEIPTS",
        "receipt",
        "the recipient's adapter",
        "the router (audit reconcile)",
        "A recipient's word that it wrote a delivered record to its system (`platform.receipt`, bare). "
        "A service import of the router's `receipt.<agency>.>`.",
    ),
    BusSubject(
        "receipts",
        "receipt.{agency}.{receiptKey}",
        "ROUTER",
        "RECEIPTS",
        "receipt",
        "an agency (through `receipts.>`)",
        "audit reconcile",
        "What the router stores of an agency's receipts; the agency token is set by the server from the account.",
    ),
    BusSubject(
        "auditLog",
        "audit.log",
        "ROUTER",
        "AUDIT",
        "auditRecord",
        "the router (the log's one writer, holding the lease)",
        "the oversight auditor (`samband audit`)",
        "Entry bundles: one message per append, JSON lines of a header and each entry's exact bytes (one entry "
        "per decision, allow or deny; each a leaf of the RFC 9162 tree). Appended, with the leaf hashes, views and "
        "checkpoint below, as one atomic batch conditional on the stream's last sequence, before any delivery.",
    ),
    BusSubject(
        "auditTree",
        "audit.tree",
        "ROUTER",
        "AUDIT",
        "auditRecord",
        "the router",
        "every auditor and witness",
        "The appended entries' leaf hashes (binary: first index, count, 32 bytes each) and the tree's compact "
        "range after them: public, so anyone can check inclusion and consistency.",
    ),
    BusSubject(
        "auditView",
        "audit.view.{agency}",
        "ROUTER",
        "AUDIT",
        "auditRecord",
        "the router",
        "the agency's auditor (`auditor-<agency>`)",
        "The entries the agency is origin or recipient of, exact bytes: what its auditor may read, enforced by "
        "the broker (consumers filtered to this subject only).",
    ),
    BusSubject(
        "auditCheckpoints",
        "audit.checkpoint",
        "ROUTER",
        "AUDIT",
        "auditCheckpoint",
        "the router",
        "every auditor and witness",
        "The log's signed tree head after each append: a C2SP tlog-checkpoint note signed with Ed25519.",
    ),
    BusSubject(
        "auditCosignatures",
        "audit.cosignature.{agency}",
        "ROUTER",
        "AUDIT_WITNESS",
        "auditCheckpoint",
        "the agency's witness (`samband witness`)",
        "every auditor (`samband audit verify --witnesses K`)",
        "A witness's C2SP tlog-cosignature on a checkpoint it found consistent with the last it cosigned.",
    ),
)
