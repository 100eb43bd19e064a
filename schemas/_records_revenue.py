"""The state's money and goods: Tullverket's seizures and controls, Skatteverket's audits, reassessments
and population facts, Kronofogden's debts, distraints and payment security."""

from __future__ import annotations

import datetime as _dt
from typing import Literal

from ._base import Instant, OrganisationRef, PersonRef, Record, VehicleRef

__all__ = [
    "ConsignmentControl",
    "CustomsSeizure",
    "Debt",
    "Distraint",
    "PaymentSecurity",
    "PopulationFact",
    "TaxAudit",
    "TaxReassessment",
]


class CustomsSeizure(Record, tag="customs.seizure", frozen=True, kw_only=True):
    """Tullverket's seizure of goods, e.g. 145,000 litres of alcohol; ``quantity`` is a measure, not money."""

    seizure_id: str
    seized_at: Instant
    location: str
    goods: str
    quantity: float | None = None  # a measured quantity, not money
    unit: str | None = None
    vehicle: VehicleRef | None = None
    holder: PersonRef | None = None
    company: OrganisationRef | None = None


class ConsignmentControl(Record, tag="customs.consignment_control", frozen=True, kw_only=True):
    """Tullverket's control of a declared consignment and what it found."""

    control_id: str
    controlled_at: Instant
    declarant: OrganisationRef
    goods: str
    declared_value_ore: int | None = None
    finding: str | None = None


class TaxAudit(Record, tag="tax.audit", frozen=True, kw_only=True):
    """Skatteverket's tax audit (revision) of a person or a company."""

    audit_id: str
    opened_on: _dt.date
    taxpayer: PersonRef | OrganisationRef
    scope: str
    status: Literal["opened", "closed"] = "opened"


class TaxReassessment(Record, tag="tax.reassessment", frozen=True, kw_only=True):
    """Höjning av skatt: a decided increase of assessed tax."""

    decision_id: str
    decided_on: _dt.date
    taxpayer: PersonRef | OrganisationRef
    tax_year: int
    increase_ore: int
    surcharge_ore: int | None = None


class PopulationFact(Record, tag="tax.population_fact", frozen=True, kw_only=True):
    """A folkbokföring fact: registered address, emigration, protected identity, ..."""

    person: PersonRef
    fact: str
    valid_from: _dt.date
    municipality: str | None = None


class Debt(Record, tag="enforcement.debt", frozen=True, kw_only=True):
    """A debt registered for enforcement at Kronofogden (amount in öre)."""

    case_id: str
    registered_on: _dt.date
    debtor: PersonRef | OrganisationRef
    creditor: str
    amount_ore: int


class Distraint(Record, tag="enforcement.distraint", frozen=True, kw_only=True):
    """Utmätning."""

    case_id: str
    decided_on: _dt.date
    debtor: PersonRef | OrganisationRef
    property: str
    value_ore: int | None = None
    vehicle: VehicleRef | None = None


class PaymentSecurity(Record, tag="enforcement.payment_security", frozen=True, kw_only=True):
    """Betalningssäkring."""

    case_id: str
    decided_on: _dt.date
    debtor: PersonRef | OrganisationRef
    amount_ore: int
