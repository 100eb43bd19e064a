"""Benefits and residence: Försäkringskassan's and Arbetsförmedlingen's controls, recovery claims and
stopped payments, Migrationsverket's residence status and expulsions."""

from __future__ import annotations

import datetime as _dt

from ._base import PersonRef, Record

__all__ = ["BenefitControl", "ExpulsionDecision", "RecoveryClaim", "ResidenceStatus", "StoppedPayment"]


class BenefitControl(Record, tag="benefit.control", frozen=True, kw_only=True):
    """Försäkringskassan's or Arbetsförmedlingen's control of a benefit a person receives."""

    control_id: str
    opened_on: _dt.date
    person: PersonRef
    benefit: str
    finding: str | None = None


class RecoveryClaim(Record, tag="benefit.recovery_claim", frozen=True, kw_only=True):
    """Återkrav: a claim to pay back a benefit paid in error."""

    claim_id: str
    decided_on: _dt.date
    person: PersonRef
    benefit: str
    amount_ore: int


class StoppedPayment(Record, tag="benefit.stopped_payment", frozen=True, kw_only=True):
    """Förhindrad felaktig utbetalning: a payment stopped before it was made."""

    payment_id: str
    stopped_on: _dt.date
    person: PersonRef
    benefit: str
    amount_ore: int


class ResidenceStatus(Record, tag="migration.residence_status", frozen=True, kw_only=True):
    """Migrationsverket: a person's residence status (permit, asylum seeker, none) and work permit."""

    person: PersonRef
    status: str
    valid_until: _dt.date | None = None
    work_permit: bool | None = None


class ExpulsionDecision(Record, tag="migration.expulsion_decision", frozen=True, kw_only=True):
    """Utvisning."""

    decision_id: str
    decided_on: _dt.date
    person: PersonRef
    ground: str
    enforceable: bool = False
