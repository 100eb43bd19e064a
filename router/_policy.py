"""The compiled policy: the pure decision function over the tables.

``decide(envelope, recipient, at)`` looks only at its arguments and the tables built once by
`Policy.compile` (the compile step is `_compile.Tables`; the wording of the denials that depend
on the tables only is `_denials`, built once and kept): deterministic, easy to test, explain and
benchmark. Default is deny. I/O (decision messages, file reloads) lives in `_live`; the service
only swaps whole policies. Every allow `Decision` is built at compile time, so the hot path is a
handful of dict lookups and datetime comparisons.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import msgspec

from samband.schemas import Envelope, Handling
from samband.schemas.layout import LUS

from ._authority import Citations
from ._compile import Decision, Tables, _GrantRule, _Op
from ._denials import no_entry, record_denial
from ._legal_time import FOREVER, swedish_date, swedish_text
from ._minimise import View, view_for
from ._model import Operation, PolicyData, load_policy_dir
from ._outcomes import OUTCOME
from ._validate import validate

__all__ = ["LUS", "NOBODY", "Decision", "Facts", "Policy"]


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What the decision function reads of a record, as its audit entries keep it."""

    origin: str
    region: str
    operation: str
    record_type: str
    handling: Handling


NOBODY = "-"  # the recipient of a denial that concerns the record itself (unknown or closed operation)


class Policy:
    """A compiled policy. Build it with `Policy.compile(data)` or `Policy.load(directory)`."""

    def __init__(self, data: PolicyData, *, skip_invalid: bool = False, citations: Citations | None = None) -> None:
        t = self._tables = Tables(data, citations)
        self.citations = t.citations
        self.data, self.version, self.warnings = data, t.version, t.warnings
        v = self.version
        # the tables as the hot path's own attributes: one lookup each, as before the compile step moved out
        self._tiers, self._coverage, self._ops, self._standing = t.tiers, t.coverage, t.ops, t.standing
        self._outcomes, self._outcome_candidates, self._views = t.outcomes, t.outcome_candidates, t.views
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
        return cls(load_policy_dir(directory), citations=Citations(policy_dir=directory))

    @property
    def current(self) -> Policy:
        """A compiled policy is its own current version (`LivePolicy` has the same property)."""
        return self

    def validate(self) -> list[str]:
        return validate(self.data)

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

    def _gate(self, env: Envelope | Facts, at: _dt.datetime, rt: str) -> tuple[_Op | None, Decision | None]:
        """The checks on the record itself (its operation), before any recipient is considered."""
        op = self._ops.get(env.operation)
        if op is None:
            return None, self._gate_denial("unknown", env.operation)
        if rt == OUTCOME and self._outcomes is not None:
            return op, self._outcome_gate(op, env, at)  # type: ignore[arg-type]  # never Facts: route_facts refuses outcomes
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
        """Denials of a record as such are built once per (reason, operation, detail) and reused."""
        key = (why, op_id, detail)
        d = self._gate_cache.get(key)
        if d is None:
            if len(self._gate_cache) > 65_536:  # operation names come from senders: keep the cache bounded
                self._gate_cache.clear()
            d = self._gate_cache[key] = record_denial(self._tables, why, op_id, detail)
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

    def _decide_in(self, op: _Op, env: Envelope | Facts, rt: str, recipient: str, at: _dt.datetime) -> Decision:
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
                denied = self._no_entry_cache[key] = no_entry(self._tables, op, rt, recipient)
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
        # a record that asks for its originator's review is held by the router where this allows
        # (router/_review.py), and like any handling-restricted record never goes to a co-opted agency
        restricted = named is not None or no_onward or foreign or h.review_required
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
        revoked: _GrantRule | None = None
        for g in entry.grants:
            if g.revoked:
                revoked = g
            elif at < g.start:
                upcoming = g if upcoming is None or g.start < upcoming.start else upcoming
            elif at < g.end:
                if restricted:
                    return Decision(
                        allow=False,
                        rule="deny.cooption-restricted",
                        policy_version=v,
                        reason=f"{recipient} is co-opted (grant {g.id}); "
                        "co-opted agencies never receive handling-restricted records",
                        authority=g.decision.authority,
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
                authority=upcoming.decision.authority,
            )
        if revoked is not None:
            return revoked.decision
        last = max(entry.grants, key=lambda g: g.end)
        return Decision(
            allow=False,
            rule="deny.cooption-expired",
            policy_version=v,
            reason=f"{recipient}'s co-option grant {last.id} for operation {op.id} ended at {swedish_text(last.end)}",
            authority=last.decision.authority,
        )

    def candidates(self, env: Envelope) -> tuple[str, ...]:
        """Every recipient a decision is made (and audited) for: the operation's participants and
        co-opted agencies, plus any recipient the originator named, minus the sender."""
        return self._candidates(env, env.record.__struct_config__.tag)  # type: ignore[arg-type]

    def _candidates(self, env: Envelope | Facts, rt: str) -> tuple[str, ...]:
        op = self._ops.get(env.operation)
        if op is None:
            return (NOBODY,)
        origin = env.origin
        named = env.handling.named_recipients
        if self._outcome_candidates and rt == OUTCOME:
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

    def route_facts(self, facts: Facts, at: _dt.datetime) -> list[tuple[str, Decision]]:
        """`route` for a record known only by what its audit entries say (`samband policy impact`):
        the same decision function, on every record type but outcomes (whose routing reads their content)."""
        rt = facts.record_type
        if rt == OUTCOME:
            raise ValueError("Expected a record type other than outcome, got outcome")
        op, denied = self._gate(facts, at, rt)
        if denied is not None:
            return [(NOBODY, denied)]
        decide = self._decide_in
        return [(r, decide(op, facts, rt, r, at)) for r in self._candidates(facts, rt)]  # type: ignore[arg-type]

    def breakpoints(self) -> list[_dt.datetime]:
        """Every instant at which a decision may change (operations', grants' and legal bases' bounds),
        sorted: between two of them every decision is the same (`samband policy impact` relies on it)."""
        out: set[_dt.datetime] = set()
        for op in self._ops.values():
            out.update((op.start, op.end))
            for row in op.table.values():
                for e in row.values():
                    out.update(b for g in e.grants for b in (g.start, g.end))
        for cov in self._coverage.values():
            for periods in cov.values():
                out.update(b for p in periods for b in p)
        return sorted(b.astimezone(_dt.UTC) for b in out)

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
