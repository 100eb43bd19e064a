"""The councils' decisions as the router admits them: signed, within the council's scope, in order, once.

A message on ``decisions.>`` is admitted only when, in this order:

1. it is at most `MAX_DECISION_BYTES` long;
2. it names a council and carries that council's valid Ed25519 signature over its exact bytes;
3. it decodes as an envelope of a ``council.operation_decision`` or ``council.cooption_decision``;
4. the council's scope covers it: the envelope's region, the operation's scope (the one decided and,
   for a change, the one already in force), the operation a grant belongs to, and ``decided_by``
   (RSR Syd decides for ``syd`` only, Operativa rådet for ``national`` only);
5. it is new: its id was never admitted before (a replayed message is refused), it was issued after
   the decision in force for the same operation or grant (a stale one arriving late is refused), and
   not in the future (more than `MAX_CLOCK_SKEW` after the stream stored it);
6. the policy it makes is valid (the same checks as the policy files, naming the key and the value).

Every check reads only the message, the stream's own metadata (sequence, time stored) and the state
built from the messages before it, so replaying the stream after a restart admits and refuses
exactly the same messages. Each message, admitted or refused, becomes one `DecisionEntry`, named by
stream and sequence (``DECISIONS#41``): the stable reference an audit entry can cite.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn

import msgspec

from samband.schemas import ENVELOPE, CooptionDecision, DecodeError, Envelope, OperationDecision
from samband.schemas.layout import DECISIONS_STREAM

from ._councils import COUNCIL_HEADER, COUNCILS, SIGNATURE_HEADER, CouncilKeys, council_for
from ._model import Grant, Operation, PolicyData
from ._validate import validate

__all__ = [
    "MAX_CLOCK_SKEW",
    "MAX_DECISION_BYTES",
    "DecisionEntry",
    "DecisionLedger",
    "Proposal",
    "grant_from",
    "operation_from",
]

MAX_DECISION_BYTES = 64 * 1024  # a decision names agencies, types and fields: a few kB at most
MAX_CLOCK_SKEW = _dt.timedelta(minutes=5)

Kind = Literal["operation", "cooption"]
Action = Literal["create", "amend", "close", "grant", "revoke"]


class DecisionEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One message of the DECISIONS stream as the router judged it."""

    stream: str = DECISIONS_STREAM
    seq: int
    accepted: bool
    reason: str  # what it did, or why it was refused
    council: str | None = None
    kind: Kind | None = None
    action: Action | None = None
    target: str | None = None  # the operation or grant id
    decision_id: str | None = None  # the envelope id the council signed
    decided_by: str | None = None
    issued_at: _dt.datetime | None = None
    stored_at: _dt.datetime | None = None

    @property
    def ref(self) -> str:
        """The stable reference an audit entry cites: stream and sequence."""
        return f"{self.stream}#{self.seq}"


@dataclass(frozen=True)
class Proposal:
    """An admitted decision, not yet applied: what it changes and its history entry."""

    env: Envelope
    entry: DecisionEntry
    operations: dict[str, Operation]
    grants: dict[str, Grant]
    data: PolicyData  # the merged policy with the decision applied


def operation_from(d: OperationDecision) -> Operation:
    return msgspec.convert(d, Operation, from_attributes=True)  # the shared fields (OperationTerms)


def grant_from(d: CooptionDecision) -> Grant:
    return msgspec.convert(d, Grant, from_attributes=True)  # the shared fields (GrantTerms)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    return (headers or {}).get(name)


KEEP_REFUSED = 10_000  # refused decision messages the history holds, the newest


class DecisionLedger:
    """The decisions admitted so far (what is in force, by whom) and the history of every message."""

    def __init__(self, keys: CouncilKeys, keep_refused: int | None = None) -> None:
        self.keys = keys
        self.keep_refused = KEEP_REFUSED if keep_refused is None else keep_refused
        self.refused = 0  # every refusal met, however many the history still holds
        self._refused_held = 0
        self.history: list[DecisionEntry] = []
        self.in_force: dict[tuple[str, str], DecisionEntry] = {}  # (kind, target) -> the decision that set it
        self._admitted: dict[str, DecisionEntry] = {}  # decision id -> its entry

    def examine(
        self,
        body: bytes,
        headers: Mapping[str, str] | None,
        *,
        current: PolicyData,
        operations: dict[str, Operation],
        grants: dict[str, Grant],
        merge: Callable[[dict[str, Operation], dict[str, Grant]], PolicyData],
        seq: int,
        stored_at: _dt.datetime | None = None,
        agencies_known: bool = False,
    ) -> Proposal | DecisionEntry:
        """The decision admitted (a `Proposal` to apply), or its refusal (a `DecisionEntry`, not recorded yet).

        ``operations``/``grants`` are the decisions applied so far, ``current`` the merged policy,
        ``merge`` builds the merged policy from changed decisions. ``agencies_known``: also refuse
        agencies not (yet) registered (the CLI does; the router keeps such a decision until they are).
        """
        facts: dict = {"seq": seq, "stored_at": stored_at}  # filled in as the checks learn them
        try:
            return self._examine(body, headers, facts, current, operations, grants, merge, agencies_known)
        except _Refused as refused:
            return DecisionEntry(accepted=False, reason=refused.reason, **facts)

    def _examine(
        self,
        body: bytes,
        headers: Mapping[str, str] | None,
        facts: dict,
        current: PolicyData,
        operations: dict[str, Operation],
        grants: dict[str, Grant],
        merge: Callable[[dict[str, Operation], dict[str, Grant]], PolicyData],
        agencies_known: bool,
    ) -> Proposal:
        stored_at = facts["stored_at"]
        if len(body) > MAX_DECISION_BYTES:
            raise _Refused(f"Expected a decision of at most {MAX_DECISION_BYTES} bytes, got {len(body)} bytes")
        council = _header(headers, COUNCIL_HEADER)
        if council is None:
            raise _Refused(f"Expected a `{COUNCIL_HEADER}` header naming the deciding council, got none")
        if council not in COUNCILS:
            raise _Refused(f"Expected a council ({', '.join(COUNCILS)}), got `{council[:40]}` - at `{COUNCIL_HEADER}`")
        facts["council"] = council
        signature = _header(headers, SIGNATURE_HEADER)
        if signature is None:
            raise _Refused(f"Expected a `{SIGNATURE_HEADER}` header with {council}'s signature, got none")
        bad = self.keys.verify(council, body, signature)
        if bad is not None:
            raise _Refused(bad)
        try:
            env = ENVELOPE.decode(body)
        except DecodeError as exc:
            raise _Refused(str(exc)) from None
        rec = env.record
        facts.update(decision_id=env.id, issued_at=env.produced_at)
        if not isinstance(rec, (OperationDecision, CooptionDecision)):
            raise _Refused(
                f"Expected a council.operation_decision or council.cooption_decision, got `{env.record_type}` "
                "- at `$.record.type`"
            )
        facts["decided_by"] = rec.decided_by
        action: Action
        if isinstance(rec, OperationDecision):
            kind, target = "operation", rec.operation
            action = "close" if rec.status == "closed" else ("amend" if target in current.operations else "create")
        else:
            kind, target = "cooption", rec.grant_id
            action = "revoke" if rec.revoked else "grant"
        facts.update(kind=kind, target=target, action=action)
        self._check_scope(council, env, rec, current)
        self._check_order(kind, target, env, stored_at)
        if isinstance(rec, OperationDecision):
            operations = {**operations, target: operation_from(rec)}
            table, what = "operations", f"operation {target} {action}d"
        else:
            grants = {**grants, target: grant_from(rec)}
            table, what = "grants", (f"grant {target} revoked" if rec.revoked else f"{rec.agency} co-opted ({target})")
        data = merge(operations, grants)
        # Refused only for what this decision brings in: a policy file changed under an older
        # decision must not block every decision after it.
        already = set(validate(current, agencies_known=agencies_known))
        mine = [e for e in validate(data, agencies_known=agencies_known) if e not in already]
        if mine:
            text = mine[0].split(": ", 1)[1]
            raise _Refused(text.replace(f"`$.{table}.{target}", "`$.record"))
        entry = DecisionEntry(accepted=True, reason=f"{what} by {rec.decided_by}", **facts)
        return Proposal(env=env, entry=entry, operations=operations, grants=grants, data=data)

    def _check_scope(self, council: str, env: Envelope, rec, current: PolicyData) -> None:
        scope = COUNCILS[council]
        name = current.regions[scope].council if scope in current.regions else council

        def refuse(what: str, where: str) -> NoReturn:
            raise _Refused(f"Expected a decision within {council}'s scope ({scope}), got {what} - at `{where}`")

        if env.region != scope:
            refuse(f"one for region `{env.region}`", "$.region")
        if isinstance(rec, OperationDecision):
            if rec.scope != scope:
                refuse(f"an operation in `{rec.scope}` (decided by {council_for(rec.scope)})", "$.record.scope")
            existing = current.operations.get(rec.operation)
            if existing is not None and existing.scope != scope:
                refuse(
                    f"operation {rec.operation} of `{existing.scope}` (decided by {existing.decided_by})",
                    "$.record.operation",
                )
        else:
            op = current.operations.get(rec.operation)
            if op is not None and op.scope != scope:
                refuse(f"a grant in operation {rec.operation} of `{op.scope}`", "$.record.operation")
            granted = current.grants.get(rec.grant_id)
            if granted is not None:
                held = current.operations.get(granted.operation)
                if held is not None and held.scope != scope:
                    refuse(
                        f"grant {rec.grant_id} of operation {granted.operation} in `{held.scope}`", "$.record.grant_id"
                    )
        if rec.decided_by != name:
            raise _Refused(
                f"Expected `decided_by` {name} (the council that signed), got `{rec.decided_by[:60]}` "
                "- at `$.record.decided_by`"
            )

    def _check_order(self, kind: str, target: str, env: Envelope, stored_at: _dt.datetime | None) -> None:
        seen = self._admitted.get(env.id)
        if seen is not None:
            raise _Refused(
                f"Expected a decision not admitted before, got {env.id} again (admitted as {seen.ref}) - at `$.id`"
            )
        in_force = self.in_force.get((kind, target))
        if in_force is not None and in_force.issued_at is not None and env.produced_at <= in_force.issued_at:
            raise _Refused(
                f"Expected a decision issued after the one in force for {target} ({in_force.ref}, issued "
                f"{in_force.issued_at.isoformat()}), got one issued {env.produced_at.isoformat()} - at `$.produced_at`"
            )
        if stored_at is not None and env.produced_at > stored_at + MAX_CLOCK_SKEW:
            raise _Refused(
                f"Expected a decision issued before it was stored ({stored_at.isoformat()}), got one issued "
                f"{env.produced_at.isoformat()} - at `$.produced_at`"
            )

    def admit(self, proposal: Proposal) -> None:
        e = proposal.entry
        self.history.append(e)
        self._admitted[e.decision_id] = e  # type: ignore[index]
        self.in_force[(e.kind, e.target)] = e  # type: ignore[index]

    def refuse(self, entry: DecisionEntry) -> None:
        """Keep ``entry`` in the history; of the refusals, the newest `keep_refused` only, so a council
        identity that floods DECISIONS with junk grows the router's memory by a bounded amount (each
        refusal is logged, counted and audited as it comes; the stream keeps them all)."""
        self.history.append(entry)
        self.refused += 1
        self._refused_held += 1
        if self._refused_held > 2 * self.keep_refused:  # dropped in one pass now and then: O(1) a refusal
            extra = self._refused_held - self.keep_refused
            kept: list[DecisionEntry] = []
            for e in self.history:
                if not e.accepted and extra > 0:
                    extra -= 1
                    continue
                kept.append(e)
            self.history, self._refused_held = kept, self.keep_refused
