"""Kriminalvården, Kustbevakningen, Åklagarmyndigheten, Ekobrottsmyndigheten, and the supervisory
authorities among the network agencies (their findings)."""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

import msgspec

from ._base import Instant, OrganisationRef, PersonRef, Record, in_order

__all__ = ["EconomicCrimeNotice", "MaritimeControl", "PrisonPlacement", "ProsecutionDecision", "SupervisionFinding"]


class PrisonPlacement(Record, tag="prison.placement", frozen=True, kw_only=True):
    """A client placed in prison, remand or under probation (frivård)."""

    client: PersonRef
    kind: Literal["prison", "remand", "probation"]
    unit: str
    from_date: _dt.date
    to_date: _dt.date | None = None

    def __post_init__(self) -> None:
        in_order(self, "from_date", "to_date")


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
