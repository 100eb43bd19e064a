"""The record types the agencies and the councils exchange: the envelope's tagged union.

Tags read ``<domain>.<what>``. Money is integer öre (``*_ore``), never float. Persons,
organisations and vehicles are references (`PersonRef`, `OrganisationRef`, `VehicleRef`),
validated and masked. Optional fields (``= None``) are what field minimisation may drop.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, ClassVar, Literal

import msgspec

from ._base import Instant, OrganisationRef, PersonRef, Record, Region, Schema, VehicleRef

__all__ = [
    "RECORD_TYPES",
    "AgencyRegistration",
    "AnyRecord",
    "BenefitControl",
    "ConsignmentControl",
    "CooptionDecision",
    "CustomsSeizure",
    "Debt",
    "Distraint",
    "EconomicCrimeNotice",
    "ExpulsionDecision",
    "IncidentReport",
    "IntelligenceNote",
    "MaritimeControl",
    "OperationDecision",
    "Outcome",
    "OverloadReport",
    "Passenger",
    "PaymentSecurity",
    "PersonControl",
    "PopulationFact",
    "PrisonPlacement",
    "ProsecutionDecision",
    "Receipt",
    "RecoveryClaim",
    "ResidenceStatus",
    "SituationReport",
    "StoppedPayment",
    "SupervisionFinding",
    "TaxAudit",
    "TaxReassessment",
    "VehicleControl",
]


def _in_order(record: Record, first: str, last: str, *, strictly: bool = False) -> None:
    """A period's end is not before its start (for a grant, strictly after): a reversed period would match nothing."""
    start, end = getattr(record, first), getattr(record, last)
    if end is None:
        return
    try:
        reversed_ = end <= start if strictly else end < start
    except TypeError:  # one with a time zone, one without
        raise ValueError(f"Expected `{first}` and `{last}` both with a time zone or both without") from None
    if reversed_:
        rel = "after" if strictly else "on or after"
        raise ValueError(f"Expected `{last}` {rel} `{first}` ({start.isoformat()}), got {end.isoformat()}")


# ---- Polismyndigheten -----------------------------------------------------------------
class Passenger(Schema, frozen=True, kw_only=True):
    """A person travelling in a controlled vehicle whose identity was checked, and their role on board.

    ``straw_buyer`` (målvakt): named as the buyer of goods carried for someone else, as on the
    Bacchus liquor buses; ``tour_leader``: organises the trip on board; ``co_driver``: a second driver.
    """

    person: PersonRef  # a personnummer or a samordningsnummer
    role: Literal["passenger", "straw_buyer", "tour_leader", "co_driver"]


class VehicleControl(Record, tag="police.vehicle_control", frozen=True, kw_only=True):
    """A vehicle (and its driver) checked at a control point, e.g. the Bacchus bus controls at Helsingborg.

    ``passengers`` is the head count on board; ``identified_passengers`` are those whose
    identity was checked, each with a role (1.1). Field minimisation keeps or drops the list
    as a whole, and the persons in it leave the envelope's subjects with it.
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 1)

    control_id: str
    controlled_at: Instant
    location: str
    vehicle: VehicleRef
    vehicle_kind: str
    driver: PersonRef | None = None
    passengers: int = 0
    remark: str | None = None
    identified_passengers: tuple[Passenger, ...] = ()


class PersonControl(Record, tag="police.person_control", frozen=True, kw_only=True):
    """A person checked by the police (identity or body search), outside any vehicle control."""

    control_id: str
    controlled_at: Instant
    location: str
    person: PersonRef
    reason: str | None = None
    remark: str | None = None


class OverloadReport(Record, tag="police.overload_report", frozen=True, kw_only=True):
    """A vehicle weighed over its permitted gross weight (what Transportstyrelsen is co-opted for)."""

    report_id: str
    weighed_at: Instant
    location: str
    vehicle: VehicleRef
    operator: OrganisationRef | None = None
    measured_kg: int
    permitted_kg: int


class IncidentReport(Record, tag="police.incident", frozen=True, kw_only=True):
    """A police incident report (anmälan): the offence, where and when, and the suspects."""

    incident_id: str
    occurred_at: Instant
    location: str
    offence: str
    suspects: tuple[PersonRef, ...] = ()
    summary: str | None = None


# ---- Tullverket -----------------------------------------------------------------------
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


# ---- Skatteverket ---------------------------------------------------------------------
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


# ---- Försäkringskassan / Arbetsförmedlingen -------------------------------------------
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


# ---- Kronofogdemyndigheten ------------------------------------------------------------
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


# ---- Migrationsverket -----------------------------------------------------------------
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


# ---- Kriminalvården, Kustbevakningen, Åklagarmyndigheten, Ekobrottsmyndigheten --------
class PrisonPlacement(Record, tag="prison.placement", frozen=True, kw_only=True):
    """A client placed in prison, remand or under probation (frivård)."""

    client: PersonRef
    kind: Literal["prison", "remand", "probation"]
    unit: str
    from_date: _dt.date
    to_date: _dt.date | None = None

    def __post_init__(self) -> None:
        _in_order(self, "from_date", "to_date")


class MaritimeControl(Record, tag="coastguard.maritime_control", frozen=True, kw_only=True):
    """Kustbevakningen's control of a vessel at sea."""

    control_id: str
    controlled_at: Instant
    position: str
    vessel: str
    master: PersonRef | None = None
    finding: str | None = None


class ProsecutionDecision(Record, tag="prosecution.decision", frozen=True, kw_only=True):
    """Åklagarmyndigheten's decision on prosecution for a suspect."""

    decision_id: str
    decided_on: _dt.date
    suspect: PersonRef
    decision: Literal["indictment", "no_prosecution", "summary_penalty", "waiver"]
    offences: tuple[str, ...] = ()


class EconomicCrimeNotice(Record, tag="ecocrime.case_notice", frozen=True, kw_only=True):
    """Ekobrottsmyndigheten's notice of an economic-crime case, with the estimated damage in öre."""

    case_id: str
    opened_on: _dt.date
    crime_type: str
    suspects: tuple[PersonRef, ...] = ()
    companies: tuple[OrganisationRef, ...] = ()
    estimated_damage_ore: int | None = None


# ---- The supervisory authorities among the network agencies ---------------------------
class SupervisionFinding(Record, tag="supervision.finding", frozen=True, kw_only=True):
    """A supervisory authority's finding about an organisation it supervises, e.g. Arbetsmiljöverket's
    sanction fee after a workplace inspection, Transportstyrelsen's revoked traffic permit,
    Länsstyrelsen's revoked serving licence, Finansinspektionen's remark against a firm.

    ``permit_id`` names the permit or licence the finding concerns; ``sanction_ore`` is the
    fee or fine decided, in öre.
    """

    finding_id: str
    decided_on: _dt.date
    organisation: OrganisationRef
    category: Literal["sanction_fee", "injunction", "prohibition", "permit_revoked", "remark"]
    permit_id: str | None = None
    sanction_ore: Annotated[int, msgspec.Meta(ge=0)] | None = None
    summary: str | None = None


# ---- Säkerhetspolisen, Nuc/Ruc --------------------------------------------------------
class IntelligenceNote(Record, tag="security.intelligence_note", frozen=True, kw_only=True):
    """Always handling-restricted: the envelope must name its recipients (checked by `Envelope`)."""

    note_id: str
    written_on: _dt.date
    classification: str
    summary: str
    persons: tuple[PersonRef, ...] = ()


class SituationReport(Record, tag="intel.situation_report", frozen=True, kw_only=True):
    """Lägesbild from Nuc or a Ruc."""

    report_id: str
    centre: str
    period_from: _dt.date
    period_to: _dt.date
    summary: str
    priority_persons: tuple[PersonRef, ...] = ()

    def __post_init__(self) -> None:
        _in_order(self, "period_from", "period_to")


class Outcome(Record, tag="outcome", frozen=True, kw_only=True):
    """Utfall: money recovered or saved by an agency in a region (e.g. region Mitt 2020: 63 MSEK).

    ``category`` is an id from `OUTCOME_CATEGORIES`; the router refuses others (the type stays
    ``str`` so that 1.0 writers still decode). 1.1 added ``status`` (a recovery claim decided,
    or only requested), ``cases`` (how many decisions the amount sums; absent: one) and
    ``source`` (``<record type>:<key>`` of the record an adapter derived it from).
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 1)

    agency: str
    region: Region
    operation: str | None = None
    category: str
    amount_ore: int
    period_from: _dt.date
    period_to: _dt.date
    status: Literal["decided", "requested"] = "decided"
    cases: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        _in_order(self, "period_from", "period_to")


# ---- The councils (published by SSO) and the platform ---------------------------------
class OperationDecision(Record, tag="council.operation_decision", frozen=True, kw_only=True):
    """An RSR or Operativa rådet decides (or changes, or closes) a joint operation."""

    operation: str
    name: str
    scope: Region
    decided_by: str
    participants: tuple[str, ...]
    record_types: tuple[str, ...]
    legal_basis: str
    purposes: dict[str, str] = {}
    valid_from: _dt.date
    valid_to: _dt.date | None = None
    status: Literal["active", "closed"] = "active"

    def __post_init__(self) -> None:
        _in_order(self, "valid_from", "valid_to")


class CooptionDecision(Record, tag="council.cooption_decision", frozen=True, kw_only=True):
    """Adjungering: a time-bounded, revocable grant to one agency in one operation.

    ``regions`` (1.1): the regions outside those the agency declared that the council
    explicitly reaches into with this grant; without it a grant never takes an agency
    outside its declared regions.
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 1)

    grant_id: str
    agency: str
    operation: str
    record_types: tuple[str, ...]
    fields: tuple[str, ...]
    valid_from: Instant
    valid_to: Instant
    decided_by: str
    reason: str
    legal_basis: str
    revoked: bool = False
    regions: tuple[Region, ...] = ()

    def __post_init__(self) -> None:
        _in_order(self, "valid_from", "valid_to", strictly=True)


class AgencyRegistration(Record, tag="platform.agency_registration", frozen=True, kw_only=True):
    """Onboarding (or offboarding) of an agency, announced to the router."""

    slug: str
    name: str
    tier: Literal["core", "network"]
    regions: tuple[Region, ...] = ()
    sends: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    active: bool = True


class Receipt(Record, tag="platform.receipt", frozen=True, kw_only=True):
    """A recipient's word that it wrote a delivered record to its system (for `audit reconcile`)."""

    envelope_id: str
    recipient: str
    written_at: Instant
    sha256: str


AnyRecord = (
    VehicleControl
    | PersonControl
    | OverloadReport
    | IncidentReport
    | CustomsSeizure
    | ConsignmentControl
    | TaxAudit
    | TaxReassessment
    | PopulationFact
    | BenefitControl
    | RecoveryClaim
    | StoppedPayment
    | Debt
    | Distraint
    | PaymentSecurity
    | ResidenceStatus
    | ExpulsionDecision
    | PrisonPlacement
    | MaritimeControl
    | ProsecutionDecision
    | EconomicCrimeNotice
    | SupervisionFinding
    | IntelligenceNote
    | SituationReport
    | Outcome
    | OperationDecision
    | CooptionDecision
    | AgencyRegistration
    | Receipt
)

RECORD_TYPES: dict[str, type[AnyRecord]] = {cls.__struct_config__.tag: cls for cls in AnyRecord.__args__}
