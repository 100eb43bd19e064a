"""The record types the agencies and the councils exchange: the envelope's tagged union.

Tags read ``<domain>.<what>``. Money is integer öre (``*_ore``), never float. Persons,
organisations and vehicles are references (`PersonRef`, `OrganisationRef`, `VehicleRef`),
validated and masked. Optional fields (``= None``) are what field minimisation may drop.
"""

from __future__ import annotations

from ._records_councils import (
    AgencyRegistration,
    CooptionDecision,
    GrantTerms,
    OperationDecision,
    OperationTerms,
    Receipt,
)
from ._records_intelligence import IntelligenceNote, Outcome, SituationReport
from ._records_justice import (
    EconomicCrimeNotice,
    MaritimeControl,
    PrisonPlacement,
    ProsecutionDecision,
    SupervisionFinding,
)
from ._records_police import IncidentReport, OverloadReport, Passenger, PersonControl, VehicleControl
from ._records_revenue import (
    ConsignmentControl,
    CustomsSeizure,
    Debt,
    Distraint,
    PaymentSecurity,
    PopulationFact,
    TaxAudit,
    TaxReassessment,
)
from ._records_welfare import BenefitControl, ExpulsionDecision, RecoveryClaim, ResidenceStatus, StoppedPayment

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
    "GrantTerms",
    "IncidentReport",
    "IntelligenceNote",
    "MaritimeControl",
    "OperationDecision",
    "OperationTerms",
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
