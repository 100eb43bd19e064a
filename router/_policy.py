"""The policy: compiled lookup tables and the pure decision function.

``decide(envelope, origin, recipient, at)`` looks only at its arguments and the compiled
tables: deterministic, easy to test, explain and benchmark. I/O lives in the service.
"""

from __future__ import annotations

import datetime as _dt
import hashlib

import msgspec

from samband.schemas import Envelope

__all__ = ["Decision", "Policy", "Rule", "LUS"]

LUS = "LUS 2016:774"


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


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """Allow ``record_type`` from ``sender`` to ``recipient`` for ``purpose`` with ``fields``."""

    id: str
    record_type: str
    sender: str
    recipient: str
    purpose: str
    legal_basis: str
    fields: tuple[str, ...]


class Policy:
    """Compiled policy: ``(record_type, sender) -> {recipient: Rule}``; everything else is denied."""

    def __init__(self, rules: list[Rule]) -> None:
        self._table: dict[tuple[str, str], dict[str, Rule]] = {}
        for r in rules:
            self._table.setdefault((r.record_type, r.sender), {})[r.recipient] = r
        self.version = hashlib.sha256(msgspec.json.encode(sorted(rules, key=lambda r: r.id))).hexdigest()[:16]

    def candidates(self, envelope: Envelope, origin: str) -> tuple[str, ...]:
        """Every recipient a decision is made (and audited) for."""
        return tuple(self._table.get((envelope.record_type, origin), {}))

    def decide(self, envelope: Envelope, origin: str, recipient: str, at: _dt.datetime) -> Decision:
        if recipient == origin:
            return Decision(allow=False, rule="deny.own-record", policy_version=self.version, reason="the sender never receives its own record")
        rule = self._table.get((envelope.record_type, origin), {}).get(recipient)
        if rule is None:
            return Decision(allow=False, rule="deny.default", policy_version=self.version, reason="no rule allows this recipient")
        return Decision(
            allow=True, rule=rule.id, policy_version=self.version, reason=f"{rule.purpose} for {recipient}",
            legal_basis=rule.legal_basis, purpose=rule.purpose, fields=rule.fields,
        )

    @classmethod
    def skeleton(cls) -> Policy:
        """The walking skeleton's one rule: Polisen's vehicle controls to Skatteverket (tax control)."""
        from samband.schemas import VehicleControl

        return cls([
            Rule(
                id="skeleton.vehicle-control.skatteverket", record_type="police.vehicle_control", sender="polisen",
                recipient="skatteverket", purpose="tax_control", legal_basis=LUS,
                fields=tuple(VehicleControl.__struct_fields__),
            )
        ])
