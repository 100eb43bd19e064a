"""What a change does to the compiled policy: operations, grants and recipients added or removed.

`changes(before, after)` compares two compiled policies table by table, per record type: who may
receive it in which operation, by which rule and with which fields. It is what
``samband decision ... --dry-run`` prints before anything is published. It looks at the tables,
not at time: a grant that starts next month is reported as added (with its period).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from ._compile import _Op
from ._legal_time import swedish_text
from ._policy import Policy

__all__ = ["Change", "Impact", "changes"]


@dataclass(frozen=True)
class Change:
    """One recipient of one record type in one operation, before and after."""

    record_type: str
    operation: str
    recipient: str
    what: Literal["added", "removed", "widened", "narrowed", "changed"]
    rule: str
    fields_before: tuple[str, ...] = ()
    fields_after: tuple[str, ...] = ()

    def text(self) -> str:
        sign = {"added": "+", "removed": "-"}.get(self.what, "~")
        if self.what == "added":
            detail = f"fields {', '.join(self.fields_after)}"
        elif self.what == "removed":
            detail = "receives nothing more"
        else:
            gained = [f for f in self.fields_after if f not in self.fields_before]
            lost = [f for f in self.fields_before if f not in self.fields_after]
            detail = (
                "; ".join(
                    part
                    for part in (
                        f"adds {', '.join(gained)}" if gained else "",
                        f"drops {', '.join(lost)}" if lost else "",
                    )
                    if part
                )
                or "same fields"
            )
        return f"{sign} {self.recipient} in {self.operation} by rule {self.rule}: {self.what}, {detail}"


@dataclass
class Impact:
    before: str  # policy versions
    after: str
    operations: list[str] = field(default_factory=list)  # one line per operation added, removed or changed
    grants: list[str] = field(default_factory=list)
    recipients: dict[str, list[Change]] = field(default_factory=dict)  # record type -> changes

    @property
    def empty(self) -> bool:
        return not (self.operations or self.grants or self.recipients)

    def lines(self) -> list[str]:
        out = [f"policy {self.before} -> {self.after}"]
        if self.empty:
            return [*out, "no change to the compiled policy"]
        out += [f"operation {line}" for line in self.operations]
        out += [f"grant {line}" for line in self.grants]
        for rt in sorted(self.recipients):
            out.append(f"{rt}:")
            out += [f"  {c.text()}" for c in self.recipients[rt]]
        return out

    def to_builtins(self) -> dict:
        return {
            "policy_before": self.before,
            "policy_after": self.after,
            "operations": self.operations,
            "grants": self.grants,
            "recipients": {rt: [msgspec.to_builtins(c.__dict__) for c in cs] for rt, cs in self.recipients.items()},
        }


def _receivers(policy: Policy) -> dict[tuple[str, str, str], tuple[str, tuple[str, ...]]]:
    """(record type, operation, recipient) -> (rule, fields) for every allow the tables can give."""
    out: dict[tuple[str, str, str], tuple[str, tuple[str, ...]]] = {}
    ops: dict[str, _Op] = policy._ops
    for op in ops.values():
        if not op.active:
            continue  # a closed operation routes nothing
        for rt, row in op.table.items():
            for agency, entry in row.items():
                if entry.need is not None:
                    out[(rt, op.id, agency)] = (entry.need.rule, entry.need.fields)
                else:
                    for g in entry.grants:  # one line per co-opted agency: its first grant names it
                        if g.revoked:
                            continue
                        out[(rt, op.id, agency)] = (g.decision.rule, g.decision.fields)
                        break
    return out


def _describe_operation(op_id: str, policy: Policy) -> str:
    o = policy.data.operations[op_id]
    period = f"{o.valid_from} to {o.valid_to or 'further notice'}"
    return f"{op_id} ({o.scope}, {o.status}, {period}, by {o.decided_by})"


def _operation_lines(before: Policy, after: Policy) -> list[str]:
    b, a = before.data.operations, after.data.operations
    out = [f"added: {_describe_operation(k, after)}" for k in sorted(a.keys() - b.keys())]
    out += [f"removed: {k}" for k in sorted(b.keys() - a.keys())]
    for k in sorted(a.keys() & b.keys()):
        old, new = b[k], a[k]
        if old == new:
            continue
        parts = []
        for name in ("status", "valid_from", "valid_to", "legal_basis", "name"):
            if getattr(old, name) != getattr(new, name):
                parts.append(f"{name} {getattr(old, name)} -> {getattr(new, name)}")
        for name in ("participants", "record_types"):
            added = [x for x in getattr(new, name) if x not in getattr(old, name)]
            gone = [x for x in getattr(old, name) if x not in getattr(new, name)]
            parts += [f"{name} + {x}" for x in added] + [f"{name} - {x}" for x in gone]
        for agency in sorted(set(old.purposes) | set(new.purposes)):
            if old.purposes.get(agency) != new.purposes.get(agency):
                parts.append(f"purpose of {agency} {old.purposes.get(agency)} -> {new.purposes.get(agency)}")
        out.append(f"changed: {k}: {'; '.join(parts)}")
    return out


def _grant_lines(before: Policy, after: Policy) -> list[str]:
    b, a = before.data.grants, after.data.grants
    out = []
    for k in sorted(a.keys() - b.keys()):
        g = a[k]
        out.append(
            f"added: {k}: {g.agency} in {g.operation} for {', '.join(g.record_types)}, "
            f"{swedish_text(g.valid_from)} to {swedish_text(g.valid_to)}, under {g.legal_basis}"
        )
    out += [f"removed: {k}" for k in sorted(b.keys() - a.keys())]
    for k in sorted(a.keys() & b.keys()):
        old, new = b[k], a[k]
        if old == new:
            continue
        if new.revoked and not old.revoked:
            out.append(f"revoked: {k}: {new.agency} in {new.operation}")
        else:
            out.append(
                f"changed: {k}: {new.agency} in {new.operation}, "
                f"{swedish_text(new.valid_from)} to {swedish_text(new.valid_to)}"
            )
    return out


def changes(before: Policy, after: Policy) -> Impact:
    """Everything that differs between two compiled policies, for people to read before a change."""
    impact = Impact(before.version, after.version, _operation_lines(before, after), _grant_lines(before, after))
    old, new = _receivers(before), _receivers(after)
    found: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        rt, op, agency = key
        if key not in old:
            rule, fields = new[key]
            found.append(Change(rt, op, agency, "added", rule, (), fields))
        elif key not in new:
            rule, fields = old[key]
            found.append(Change(rt, op, agency, "removed", rule, fields, ()))
        elif old[key] != new[key]:
            (_, was), (rule, now) = old[key], new[key]
            what: Literal["widened", "narrowed", "changed"]
            if set(was) < set(now):
                what = "widened"
            elif set(now) < set(was):
                what = "narrowed"
            else:
                what = "changed"
            found.append(Change(rt, op, agency, what, rule, was, now))
    for c in found:
        impact.recipients.setdefault(c.record_type, []).append(c)
    return impact
