"""The compile step: validated policy data -> the lookup tables `Policy.decide` reads.

Per operation: record type -> recipient -> `_Entry` (the participant's allow decision, prebuilt,
and/or its co-option grants); per legal basis: agency -> the periods it is covered; per
(origin, record type): the union of the standing restrictions; per (record type, fields): the
view that minimises a record. Every allow `Decision` is built here, once, so the hot path is a
handful of dict lookups and datetime comparisons. Nothing here runs per record.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from typing import Any

import msgspec

from samband.observability.audit import Authority
from samband.schemas import RECORD_TYPES

from ._authority import Citations
from ._legal_time import day_end, day_start
from ._minimise import View, view_for
from ._model import Grant, Need, Operation, PolicyData
from ._outcomes import OUTCOME, OutcomeRoutes
from ._validate import record_fields

__all__ = ["Decision", "Tables"]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome for one (record, recipient). ``fields`` is what the recipient may see."""

    allow: bool
    rule: str
    policy_version: str
    reason: str
    legal_basis: str | None = None
    purpose: str | None = None
    fields: tuple[str, ...] = ()
    no_onward_sharing: bool = False
    authority: Authority | None = None  # the decision or policy file the audit entry cites

    def audit_fields(self) -> dict[str, Any]:
        """What an audit entry (`AuditRecord`) records of the decision; the rest is the record's and the recipient's."""
        return {
            "decision": "allow" if self.allow else "deny",
            "rule": self.rule,
            "policy_version": self.policy_version,
            "legal_basis": self.legal_basis,
            "purpose": self.purpose,
            "fields": self.fields,
            "reason": self.reason,
            "authority": self.authority,
        }


class _GrantRule:
    __slots__ = ("basis", "decision", "end", "id", "revoked", "start")

    def __init__(self, grant_id: str, g: Grant, decision: Decision) -> None:
        self.revoked = g.revoked  # kept, never allowing: its denial cites the decision that revoked it
        # in UTC, like every bound the hot path compares with (same tzinfo: no offset lookups)
        self.id, self.start, self.end, self.basis, self.decision = (
            grant_id,
            g.valid_from.astimezone(_dt.UTC),
            g.valid_to.astimezone(_dt.UTC),
            g.legal_basis,
            decision,
        )


def _revoked(grant_id: str, g: Grant, version: str, authority: Authority) -> Decision:
    return Decision(
        allow=False,
        rule="deny.cooption-revoked",
        policy_version=version,
        reason=f"{g.agency}'s co-option grant {grant_id} for operation {g.operation} was revoked by {g.decided_by}",
        authority=authority,
    )


class _Entry:
    """What one recipient may get of one record type in one operation."""

    __slots__ = ("grants", "need")

    def __init__(self) -> None:
        self.need: Decision | None = None  # the participant's prebuilt allow
        self.grants: list[_GrantRule] = []


class _Op:
    __slots__ = (
        "active",
        "by_origin",
        "candidates",
        "coopted",
        "data",
        "end",
        "id",
        "members",
        "outside",
        "scope",
        "start",
        "table",
    )

    def __init__(self, op_id: str, op: Operation, members: frozenset[str]) -> None:
        self.id, self.data = op_id, op
        self.active = op.status == "active"
        self.start, self.end = day_start(op.valid_from), day_end(op.valid_to)
        self.scope = op.scope
        self.members = members
        # agencies named (as participants or by a grant) whose declared regions leave out the scope
        self.outside: set[str] = set()
        self.table: dict[str, dict[str, _Entry]] = {}
        self.candidates: tuple[str, ...] = ()
        self.coopted: dict[str, list[str]] = {}  # co-opted agency -> the record types its grants cover
        self.by_origin: dict[str, tuple[str, ...]] = {}  # candidates minus the sender, per sender


class _Standing:
    """The union of the standing restrictions on one (origin, record type)."""

    __slots__ = ("foreign", "ids", "named", "no_onward")

    def __init__(self) -> None:
        self.named: tuple[str, ...] | None = None  # sorted
        self.no_onward = False
        self.foreign = False
        self.ids: list[str] = []


class Tables:
    """The lookup tables `decide` reads, built once from validated policy data (see `Policy`)."""

    def __init__(self, data: PolicyData, citations: Citations | None = None) -> None:
        self.data = data
        self.version = hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()[:16]
        self.citations = citations or Citations()
        self.warnings: list[str] = []
        v = self.version
        self.tiers = {slug: a.tier for slug, a in data.agencies.items()}
        regions = {slug: frozenset(a.regions) for slug, a in data.agencies.items() if a.regions}
        # legal basis -> agency -> [(start, end)]
        self.coverage: dict[str, dict[str, list[tuple[_dt.datetime, _dt.datetime]]]] = {}
        for basis_id, basis in data.legal_bases.items():
            cov = self.coverage[basis_id] = {}
            for c in basis.coverage:
                for slug in c.agencies:
                    cov.setdefault(slug, []).append((day_start(c.valid_from), day_end(c.valid_to)))
        self.ops: dict[str, _Op] = {}
        o: _Op | None
        for op_id, op in data.operations.items():
            members = frozenset(p for p in op.participants if p in self.tiers)
            if len(members) != len(op.participants):
                self.warnings.append(
                    f"operation {op_id}: unknown participants left out: {sorted(set(op.participants) - members)}"
                )
            o = self.ops[op_id] = _Op(op_id, op, members)
            cited = self.cite("operation", op_id)
            o.outside.update(a for a in members if a in regions and op.scope not in regions[a])
            for rt in op.record_types:
                by_purpose = data.need_to_know.get(rt, {})
                row = o.table.setdefault(rt, {})
                for agency in sorted(members):
                    purpose = op.purposes.get(agency)
                    need: Need | None = by_purpose.get(purpose) if purpose else None
                    if need is None or agency not in need.recipients or agency in o.outside:
                        continue
                    row.setdefault(agency, _Entry()).need = Decision(
                        allow=True,
                        rule=f"{op_id}/{need.id or f'{rt}.{purpose}'}",  # per operation: the audit says which
                        policy_version=v,
                        reason=f"{agency} takes part in operation {op_id} for {purpose}, "
                        f"which needs these fields of {rt}",
                        legal_basis=op.legal_basis,
                        purpose=purpose,
                        fields=need.fields,
                        authority=cited,
                    )
        for grant_id, g in sorted(data.grants.items()):
            o = self.ops.get(g.operation)
            if o is None or g.agency not in self.tiers:
                if not g.revoked:
                    self.warnings.append(f"grant {grant_id}: unknown agency or operation, left out")
                continue
            if g.agency in regions and o.scope not in regions[g.agency] and o.scope not in g.regions:
                if not g.revoked:  # the council did not name the region: no grant outside the agency's own
                    o.outside.add(g.agency)
                continue
            for rt in g.record_types:
                if rt not in o.data.record_types:
                    continue  # a grant never widens the operation's scope
                fields = tuple(f for f in g.fields if f in record_fields(rt))
                decision = (
                    _revoked(grant_id, g, v, self.cite("cooption", grant_id))
                    if g.revoked
                    else Decision(
                        allow=True,
                        rule=f"cooption.{grant_id}",
                        policy_version=v,
                        reason=f"{g.agency} is co-opted to operation {g.operation} by {g.decided_by} ({g.reason}); "
                        f"delivered with no onward sharing",
                        legal_basis=g.legal_basis,
                        purpose="cooption",
                        fields=fields,
                        no_onward_sharing=True,
                        authority=self.cite("cooption", grant_id),
                    )
                )
                o.table.setdefault(rt, {}).setdefault(g.agency, _Entry()).grants.append(
                    _GrantRule(grant_id, g, decision)
                )
        for o in self.ops.values():
            for rt, row in o.table.items():
                for agency, e in row.items():
                    if any(not g.revoked for g in e.grants):
                        o.coopted.setdefault(agency, []).append(rt)
            revoked = {a for row in o.table.values() for a, e in row.items() if e.grants}
            o.candidates = tuple(sorted(o.members | set(o.coopted) | o.outside | revoked))
        self.outcomes = OutcomeRoutes(data.outcomes) if data.outcomes is not None else None
        self.outcome_candidates: dict[str, tuple[str, ...]] = {}  # operation -> who gets a decision on an outcome
        if self.outcomes is not None:
            self.route_outcomes(self.outcomes)
        self.standing: dict[tuple[str, str], _Standing] = {}
        for rid, r in sorted(data.restrictions.items()):
            types = RECORD_TYPES if "*" in r.record_types else r.record_types
            for rt in types:
                s = self.standing.setdefault((r.origin, rt), _Standing())
                s.ids.append(rid)
                if r.named_recipients is not None:
                    named = set(r.named_recipients) if s.named is None else set(s.named) & set(r.named_recipients)
                    s.named = tuple(sorted(named))  # restrictions only narrow
                s.no_onward |= r.no_onward_sharing
                s.foreign |= r.foreign_origin
        self.views: dict[tuple[str, tuple[str, ...]], View] = {}
        for o in self.ops.values():
            for rt, row in o.table.items():
                for e in row.values():
                    for d in ([e.need] if e.need else []) + [gr.decision for gr in e.grants if not gr.revoked]:
                        if (rt, d.fields) not in self.views:
                            self.views[(rt, d.fields)] = view_for(rt, d.fields)

    def cite(self, kind: str, target: str | None) -> Authority:
        return self.citations.of(kind, target, self.version)

    def route_outcomes(self, routes: OutcomeRoutes) -> None:
        """Every operation's outcomes to the follow-up of its scope (outcomes.toml), as prebuilt allows."""
        rules = routes.rules
        for o in self.ops.values():
            row = o.table.setdefault(OUTCOME, {})
            followers = [r for r in routes.recipients(o.scope) if r in self.tiers]
            for r in followers:
                entry = row.setdefault(r, _Entry())
                if entry.need is None:  # a participant's own cell for outcomes, if the matrix has one, stands
                    entry.need = Decision(
                        allow=True,
                        rule=f"{o.id}/{rules.id}",  # Operativa rådet's rule, in this operation
                        policy_version=self.version,
                        reason=routes.reason(r, o.scope),
                        legal_basis=rules.legal_basis,
                        purpose=rules.purpose,
                        fields=rules.fields,
                        authority=self.cite("outcomes", None),
                    )
            # the operation's participants decide on outcomes only where it routes them itself
            own = o.candidates if OUTCOME in o.data.record_types else ()
            self.outcome_candidates[o.id] = tuple(sorted(set(own) | set(followers)))
