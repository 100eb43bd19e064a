"""Outcomes derived from the records an agency already sends.

A tax reassessment with an amount is an outcome of category ``tax_reassessment``; a recovery
claim, a stopped payment, a distraint with a value and a payment security likewise. With
``publish_records(..., derive_outcomes=True)`` (``samband adapter run AGENCY --outcomes``) the
adapter publishes, beside each such record, an `Outcome` for the follow-up: same region and
operation, the amount, the day as its period, and ``source`` = ``<record type>:<key>`` so the
follow-up can trace it back without receiving the record. It names no one.

An agency derives its outcomes or exports them explicitly (``--outcome-export``), never both
for one category: the follow-up would count them twice.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from samband.schemas import (
    Distraint,
    Envelope,
    Outcome,
    PaymentSecurity,
    RecoveryClaim,
    StoppedPayment,
    TaxReassessment,
    new_envelope_id,
)

__all__ = ["DERIVED_CATEGORIES", "derive_outcome"]

# record class -> (category, the record's key field, its amount in öre, its day)
_Rule = tuple[str, str, Callable[[Any], int | None], Callable[[Any], _dt.date]]
_RULES: dict[type, _Rule] = {
    TaxReassessment: ("tax_reassessment", "decision_id", lambda r: r.increase_ore, lambda r: r.decided_on),
    RecoveryClaim: ("recovery_claim", "claim_id", lambda r: r.amount_ore, lambda r: r.decided_on),
    StoppedPayment: ("stopped_payment", "payment_id", lambda r: r.amount_ore, lambda r: r.stopped_on),
    Distraint: ("distraint", "case_id", lambda r: r.value_ore, lambda r: r.decided_on),
    PaymentSecurity: ("payment_security", "case_id", lambda r: r.amount_ore, lambda r: r.decided_on),
}
DERIVED_CATEGORIES: dict[str, str] = {cls.__struct_config__.tag: rule[0] for cls, rule in _RULES.items()}  # type: ignore[attr-defined]


def derive_outcome(env: Envelope, agency: str) -> Envelope | None:
    """The outcome ``agency`` achieved with the record in ``env``, or None when the record carries no amount.

    Only positive amounts are outcomes (a reassessment that lowers the tax is not a result of
    the cooperation); the router refuses anything else anyway.
    """
    rule = _RULES.get(type(env.record))
    if rule is None:
        return None
    category, key_field, amount_of, day_of = rule
    amount = amount_of(env.record)
    if amount is None or amount <= 0:
        return None
    day = day_of(env.record)
    outcome = Outcome(
        agency=agency,
        region=env.region,
        operation=env.operation,
        category=category,
        amount_ore=amount,
        period_from=day,
        period_to=day,
        source=f"{env.record_type}:{getattr(env.record, key_field)}",
    )
    return Envelope(
        id=new_envelope_id(),
        record=outcome,
        region=env.region,
        operation=env.operation,
        produced_at=env.produced_at,
        legal_basis="OSL 2009:400 6 kap. 5 §",
    )
