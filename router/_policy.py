"""The compiled policy: lookup tables and the pure decision function.

``decide(envelope, recipient, at)`` looks only at its arguments and the tables built once by
`Policy.compile`: deterministic, easy to test, explain and benchmark. Default is deny. I/O
(decision messages, file reloads) lives in `_live`; the service only swaps whole policies.

The tables, per operation: record type -> recipient -> `_Entry` (the participant's allow
decision, prebuilt, and/or its co-option grants). Every allow `Decision` is built at compile
time, so the hot path is a handful of dict lookups and datetime comparisons.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

import msgspec

from samband.schemas import RECORD_TYPES, Envelope, Handling
from samband.schemas.layout import LUS

from ._legal_time import FOREVER, day_end, day_start, swedish_date, swedish_text
from ._minimise import View, view_for
from ._model import Grant, Need, Operation, PolicyData, load_policy_dir, record_fields, validate
from ._outcomes import OUTCOME, OutcomeRoutes

__all__ = ["LUS", "NOBODY", "Decision", "Policy"]

NOBODY = "-"  # the recipient of a denial that concerns the record itself (unknown or closed operation)


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


class _GrantRule:
    __slots__ = ("basis", "decision", "end", "id", "start")

    def __init__(self, grant_id: str, g: Grant, decision: Decision) -> None:
        # in UTC, like every bound the hot path compares with (same tzinfo: no offset lookups)
        self.id, self.start, self.end, self.basis, self.decision = (
            grant_id,
            g.valid_from.astimezone(_dt.UTC),
            g.valid_to.astimezone(_dt.UTC),
            g.legal_basis,
            decision,
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


class Policy:
    """A compiled policy. Build it with `Policy.compile(data)` or `Policy.load(directory)`."""

    def __init__(self, data: PolicyData, *, skip_invalid: bool = False) -> None:
        self.data = data
        self.version = hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()[:16]
        self.warnings: list[str] = []
        v = self.version
        self._tiers = {slug: a.tier for slug, a in data.agencies.items()}
        regions = {slug: frozenset(a.regions) for slug, a in data.agencies.items() if a.regions}
        # legal basis -> agency -> [(start, end)]
        self._coverage: dict[str, dict[str, list[tuple[_dt.datetime, _dt.datetime]]]] = {}
        for basis_id, basis in data.legal_bases.items():
            cov = self._coverage[basis_id] = {}
            for c in basis.coverage:
                for slug in c.agencies:
                    cov.setdefault(slug, []).append((day_start(c.valid_from), day_end(c.valid_to)))
        self._ops: dict[str, _Op] = {}
        o: _Op | None
        for op_id, op in data.operations.items():
            members = frozenset(p for p in op.participants if p in self._tiers)
            if len(members) != len(op.participants):
                self.warnings.append(
                    f"operation {op_id}: unknown participants left out: {sorted(set(op.participants) - members)}"
                )
            o = self._ops[op_id] = _Op(op_id, op, members)
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
                    )
        for grant_id, g in sorted(data.grants.items()):
            o = self._ops.get(g.operation)
            if g.revoked or o is None or g.agency not in self._tiers:
                if not g.revoked:
                    self.warnings.append(f"grant {grant_id}: unknown agency or operation, left out")
                continue
            if g.agency in regions and o.scope not in regions[g.agency] and o.scope not in g.regions:
                o.outside.add(g.agency)  # the council did not name the region: no grant outside the agency's own
                continue
            for rt in g.record_types:
                if rt not in o.data.record_types:
                    continue  # a grant never widens the operation's scope
                fields = tuple(f for f in g.fields if f in record_fields(rt))
                decision = Decision(
                    allow=True,
                    rule=f"cooption.{grant_id}",
                    policy_version=v,
                    reason=f"{g.agency} is co-opted to operation {g.operation} by {g.decided_by} ({g.reason}); "
                    f"delivered with no onward sharing",
                    legal_basis=g.legal_basis,
                    purpose="cooption",
                    fields=fields,
                    no_onward_sharing=True,
                )
                o.table.setdefault(rt, {}).setdefault(g.agency, _Entry()).grants.append(
                    _GrantRule(grant_id, g, decision)
                )
        for o in self._ops.values():
            for rt, row in o.table.items():
                for agency, e in row.items():
                    if e.grants:
                        o.coopted.setdefault(agency, []).append(rt)
            o.candidates = tuple(sorted(o.members | set(o.coopted) | o.outside))
        self._outcomes = OutcomeRoutes(data.outcomes) if data.outcomes is not None else None
        self._outcome_candidates: dict[str, tuple[str, ...]] = {}  # operation -> who gets a decision on an outcome
        if self._outcomes is not None:
            self._route_outcomes(self._outcomes)
        self._standing: dict[tuple[str, str], _Standing] = {}
        for rid, r in sorted(data.restrictions.items()):
            types = RECORD_TYPES if "*" in r.record_types else r.record_types
            for rt in types:
                s = self._standing.setdefault((r.origin, rt), _Standing())
                s.ids.append(rid)
                if r.named_recipients is not None:
                    named = set(r.named_recipients) if s.named is None else set(s.named) & set(r.named_recipients)
                    s.named = tuple(sorted(named))  # restrictions only narrow
                s.no_onward |= r.no_onward_sharing
                s.foreign |= r.foreign_origin
        self._views: dict[tuple[str, tuple[str, ...]], View] = {}
        for o in self._ops.values():
            for rt, row in o.table.items():
                for e in row.values():
                    for d in ([e.need] if e.need else []) + [gr.decision for gr in e.grants]:
                        if (rt, d.fields) not in self._views:
                            self._views[(rt, d.fields)] = view_for(rt, d.fields)
        self._no_entry_cache: dict[tuple[str, str, str], Decision] = {}  # denials that depend on the tables only
        self._gate_cache: dict[tuple[str, str, str | None], Decision] = {}
        self._own = Decision(
            allow=False,
            rule="deny.own-record",
            policy_version=v,
            reason="the sender never receives its own record back",
        )

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def compile(cls, data: PolicyData) -> Policy:
        return cls(data)

    @classmethod
    def load(cls, directory: Path | str) -> Policy:
        """Load, validate and compile the policy files in ``directory``."""
        return cls(load_policy_dir(directory))

    @property
    def current(self) -> Policy:
        """A compiled policy is its own current version (`LivePolicy` has the same property)."""
        return self

    def validate(self) -> list[str]:
        return validate(self.data)

    def _route_outcomes(self, routes: OutcomeRoutes) -> None:
        """Every operation's outcomes to the follow-up of its scope (outcomes.toml), as prebuilt allows."""
        rules = routes.rules
        for o in self._ops.values():
            row = o.table.setdefault(OUTCOME, {})
            followers = [r for r in routes.recipients(o.scope) if r in self._tiers]
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
                    )
            # the operation's participants decide on outcomes only where it routes them itself
            own = o.candidates if OUTCOME in o.data.record_types else ()
            self._outcome_candidates[o.id] = tuple(sorted(set(own) | set(followers)))

    # ---- the hot path ------------------------------------------------------------------
    def _covered(self, basis: str, origin: str, recipient: str, at: _dt.datetime) -> bool:
        cov = self._coverage.get(basis)
        if cov is None:
            return False
        anyone = cov.get("*", ())
        for who in (origin, recipient):
            for start, end in cov.get(who, anyone):
                if start <= at < end:
                    break
            else:
                return False
        return True

    def _gate(self, env: Envelope, at: _dt.datetime, rt: str) -> tuple[_Op | None, Decision | None]:
        """The checks on the record itself (its operation), before any recipient is considered."""
        op = self._ops.get(env.operation)
        if op is None:
            return None, self._gate_denial("unknown", env.operation)
        if rt == OUTCOME and self._outcomes is not None:
            return op, self._outcome_gate(op, env, at)
        if not op.active:
            return op, self._gate_denial("closed", op.id)
        if not op.start <= at < op.end:
            return op, self._gate_denial("not-in-force", op.id)
        if env.region != op.scope:
            return op, self._gate_denial("scope", op.id, env.region)
        if env.origin not in op.members:
            return op, self._gate_denial("sender", op.id, env.origin)
        if env.origin in op.outside:
            return op, self._gate_denial("sender-regions", op.id, env.origin)
        if rt not in op.table:
            return op, self._gate_denial("type", op.id, rt)
        return op, None

    def _outcome_gate(self, op: _Op, env: Envelope, at: _dt.datetime) -> Decision | None:
        """An outcome's checks: its operation's time (with the reporting window after its end, closed
        or not), scope and sender as for any record, then the outcome's own claims (`OutcomeRoutes.check`)."""
        routes = self._outcomes
        assert routes is not None
        end = op.end if op.end == FOREVER else op.end + routes.grace
        if not op.start <= at < end:
            return Decision(
                allow=False,
                rule="deny.operation-not-in-force",
                policy_version=self.version,
                reason=f"operation {op.id} is in force from {op.data.valid_from} to "
                f"{op.data.valid_to or 'further notice'}; its outcomes reach the follow-up up to "
                f"{routes.rules.report_within_days} days after its end",
            )
        if env.region != op.scope:
            return self._gate_denial("scope", op.id, env.region)
        if env.origin not in op.members:
            return self._gate_denial("sender", op.id, env.origin)
        if env.origin in op.outside:
            return self._gate_denial("sender-regions", op.id, env.origin)
        refused = routes.check(env, at)
        if refused is not None:
            return Decision(allow=False, rule=refused[0], policy_version=self.version, reason=refused[1])
        return None

    def _gate_denial(self, why: str, op_id: str, detail: str | None = None) -> Decision:
        """Denials of a record as such are built once per (reason, operation, detail) and reused;
        the time of the decision is in the audit record, not in the reason."""
        key = (why, op_id, detail)
        d = self._gate_cache.get(key)
        if d is not None:
            return d
        v = self.version
        op = self._ops.get(op_id)
        if why == "unknown":
            d = Decision(
                allow=False,
                rule="deny.unknown-operation",
                policy_version=v,
                reason=f"no operation {op_id!r} has been decided; nothing is routed outside an operation",
            )
        elif why == "closed":
            d = Decision(
                allow=False, rule="deny.operation-closed", policy_version=v, reason=f"operation {op_id} is closed"
            )
        elif why == "not-in-force":
            assert op is not None  # _gate found it
            d = Decision(
                allow=False,
                rule="deny.operation-not-in-force",
                policy_version=v,
                reason=f"operation {op_id} is in force from {op.data.valid_from} "
                f"to {op.data.valid_to or 'further notice'} only (Swedish calendar days)",
            )
        elif why == "scope":
            assert op is not None  # _gate found it
            d = Decision(
                allow=False,
                rule="deny.outside-scope",
                policy_version=v,
                reason=f"the record is marked for region {detail}, operation {op_id} belongs to {op.scope}",
            )
        elif why == "sender":
            d = Decision(
                allow=False,
                rule="deny.sender-not-participant",
                policy_version=v,
                reason=f"{detail} does not take part in operation {op_id}",
            )
        elif why == "sender-regions":
            d = self._outside_regions(op, detail)  # type: ignore[arg-type]
        else:
            d = Decision(
                allow=False,
                rule="deny.record-type-not-in-operation",
                policy_version=v,
                reason=f"{detail} is not among the record types of operation {op_id}",
            )
        if len(self._gate_cache) > 65_536:  # operation names come from senders: keep the cache bounded
            self._gate_cache.clear()
        self._gate_cache[key] = d
        return d

    def decide(self, env: Envelope, recipient: str, at: _dt.datetime) -> Decision:
        """Allow or deny ``env`` (its ``origin`` set by the router) to ``recipient`` at ``at`` (timezone-aware)."""
        origin = env.origin
        if recipient == origin:
            return self._own
        rt = env.record.__struct_config__.tag  # = env.record_type, without the property call
        op, denied = self._gate(env, at, rt)  # type: ignore[arg-type]
        if denied is not None:
            return denied
        return self._decide_in(op, env, rt, recipient, at)  # type: ignore[arg-type]

    def _decide_in(self, op: _Op, env: Envelope, rt: str, recipient: str, at: _dt.datetime) -> Decision:
        """The recipient's part of the decision, once the record passed `_gate`."""
        origin = env.origin
        assert origin is not None  # _gate let only a member of the operation through
        v = self.version
        entry = op.table[rt].get(recipient)
        if entry is None:
            key = (op.id, rt, recipient)
            denied = self._no_entry_cache.get(key)
            if denied is None:
                if len(self._no_entry_cache) > 65_536:
                    self._no_entry_cache.clear()
                denied = self._no_entry_cache[key] = self._no_entry(op, rt, recipient)
            return denied
        # originator restrictions: the record's own marks plus the standing ones; never widened
        h: Handling = env.handling
        named = h.named_recipients
        no_onward, foreign = h.no_onward_sharing, h.foreign_origin
        standing = self._standing.get((origin, rt)) if self._standing else None
        if standing is not None:
            if standing.named is not None:  # intersected with the record's own list, or the list itself
                named = tuple(n for n in named if n in standing.named) if named is not None else standing.named
            no_onward |= standing.no_onward
            foreign |= standing.foreign
        if named is not None and recipient not in named:
            return Decision(
                allow=False,
                rule="deny.named-recipients-only",
                policy_version=v,
                reason=f"the originator restricted the record to {', '.join(named) or 'no one'}; "
                f"{recipient} is not named",
            )
        if h.review_required:
            return Decision(
                allow=False,
                rule="deny.held-for-review",
                policy_version=v,
                reason="the originator holds the record for its balancing test (LUS 2 §) before any release",
            )
        restricted = named is not None or no_onward or foreign
        if foreign and self._tiers.get(recipient) != "core":
            return Decision(
                allow=False,
                rule="deny.foreign-origin",
                policy_version=v,
                reason=f"foreign-origin material goes only to the core agencies; {recipient} is not one",
            )
        need = entry.need
        if need is not None and self._covered(need.legal_basis, origin, recipient, at):  # type: ignore[arg-type]
            return need if not no_onward or need.no_onward_sharing else _marked(need)
        uncovered = need.legal_basis if need is not None else None
        upcoming: _GrantRule | None = None
        for g in entry.grants:
            if at < g.start:
                upcoming = g if upcoming is None or g.start < upcoming.start else upcoming
            elif at < g.end:
                if restricted:
                    return Decision(
                        allow=False,
                        rule="deny.cooption-restricted",
                        policy_version=v,
                        reason=f"{recipient} is co-opted (grant {g.id}); "
                        "co-opted agencies never receive handling-restricted records",
                    )
                if self._covered(g.basis, origin, recipient, at):
                    return g.decision
                uncovered = g.basis
        if uncovered is not None:
            return Decision(
                allow=False,
                rule="deny.no-legal-basis",
                policy_version=v,
                reason=f"{uncovered} does not cover both {origin} and {recipient} on {swedish_date(at)} (Swedish time)",
            )
        if upcoming is not None:
            return Decision(
                allow=False,
                rule="deny.cooption-not-started",
                policy_version=v,
                reason=f"{recipient}'s co-option grant {upcoming.id} for operation {op.id} starts at "
                f"{swedish_text(upcoming.start)}",
            )
        last = max(entry.grants, key=lambda g: g.end)
        return Decision(
            allow=False,
            rule="deny.cooption-expired",
            policy_version=v,
            reason=f"{recipient}'s co-option grant {last.id} for operation {op.id} ended at {swedish_text(last.end)}",
        )

    def _outside_regions(self, op: _Op, agency: str) -> Decision:
        declared = self.data.agencies[agency].regions or ()
        return Decision(
            allow=False,
            rule="deny.outside-agency-regions",
            policy_version=self.version,
            reason=f"{agency} declared the regions {', '.join(declared)}; operation {op.id} belongs to {op.scope}, "
            f"and no co-option grant names {op.scope}",
        )

    def _no_entry(self, op: _Op, rt: str, recipient: str) -> Decision:
        v = self.version
        if recipient in op.outside:
            return self._outside_regions(op, recipient)
        if recipient in op.members:
            purpose = op.data.purposes.get(recipient)
            return Decision(
                allow=False,
                rule="deny.no-need-to-know",
                policy_version=v,
                reason=f"{recipient} takes part in operation {op.id} "
                + (
                    f"for {purpose}, which the need-to-know matrix does not give {rt}"
                    if purpose
                    else "with no purpose decided"
                ),
            )
        if recipient in op.coopted:
            return Decision(
                allow=False,
                rule="deny.outside-grant",
                policy_version=v,
                reason=f"{recipient} is co-opted to operation {op.id} for {', '.join(op.coopted[recipient])} only, "
                f"not {rt}",
            )
        if recipient not in self._tiers:
            return Decision(
                allow=False,
                rule="deny.unknown-recipient",
                policy_version=v,
                reason=f"{recipient} is not a known agency",
            )
        return Decision(
            allow=False,
            rule="deny.not-participant",
            policy_version=v,
            reason=f"{recipient} neither takes part in operation {op.id} nor holds a co-option grant for it",
        )

    def candidates(self, env: Envelope) -> tuple[str, ...]:
        """Every recipient a decision is made (and audited) for: the operation's participants and
        co-opted agencies, plus any recipient the originator named, minus the sender."""
        op = self._ops.get(env.operation)
        if op is None:
            return (NOBODY,)
        origin = env.origin
        named = env.handling.named_recipients
        if self._outcome_candidates and env.record.__struct_config__.tag == OUTCOME:
            followers = self._outcome_candidates[op.id]
            followers += tuple(n for n in named or () if n not in followers)
            return tuple(c for c in followers if c != origin)
        if not named:
            cands = op.by_origin.get(origin) if origin is not None else None
            if cands is None:
                cands = tuple(c for c in op.candidates if c != origin)
                if origin in op.members:
                    op.by_origin[origin] = cands
            return cands
        cands = op.candidates + tuple(n for n in named if n not in op.candidates)
        return tuple(c for c in cands if c != origin)

    def route(self, env: Envelope, at: _dt.datetime) -> list[tuple[str, Decision]]:
        """The decisions for one record: one per candidate, or a single denial when the record's
        operation is unknown, closed, not in force or the record is outside it."""
        rt = env.record_type
        op, denied = self._gate(env, at, rt)
        if denied is not None:
            return [(NOBODY, denied)]
        decide = self._decide_in
        return [(r, decide(op, env, rt, r, at)) for r in self.candidates(env)]  # type: ignore[arg-type]

    # ---- field minimisation ------------------------------------------------------------
    def view(self, record_type: str, fields: tuple[str, ...]) -> View:
        view = self._views.get((record_type, fields))
        if view is None:
            view = self._views[(record_type, fields)] = view_for(record_type, fields)
        return view

    def deliverable(self, env: Envelope, decision: Decision) -> Envelope:
        """The envelope as ``decision``'s recipient may see it: only its fields and the subjects they name."""
        return self.view(env.record_type, decision.fields).apply(env, decision)

    def operation(self, op_id: str) -> Operation | None:
        o = self._ops.get(op_id)
        return o.data if o else None


def _marked(d: Decision) -> Decision:
    return msgspec.structs.replace(d, no_onward_sharing=True)
