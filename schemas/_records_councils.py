"""The councils' decisions (published by SSO) and the platform's own records."""

from __future__ import annotations

import datetime as _dt
from typing import ClassVar, Literal

import msgspec

from ._base import Instant, Record, Region, in_order

__all__ = ["AgencyRegistration", "CooptionDecision", "GrantTerms", "OperationDecision", "OperationTerms", "Receipt"]


class OperationTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What a council decides about a joint operation: the fields of its decision record and of an
    operation in the router's policy files (which keys it by id), defined once so neither drifts."""

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


class OperationDecision(Record, OperationTerms, tag="council.operation_decision", frozen=True, kw_only=True):
    """An RSR or Operativa rådet decides (or changes, or closes) a joint operation."""

    operation: str

    def __post_init__(self) -> None:
        in_order(self, "valid_from", "valid_to")


class GrantTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What a council grants an agency it co-opts: the fields of its decision record and of a grant in
    the router's policy files (which keys it by id), defined once so neither drifts."""

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


class CooptionDecision(Record, GrantTerms, tag="council.cooption_decision", frozen=True, kw_only=True):
    """Adjungering: a time-bounded, revocable grant to one agency in one operation.

    ``regions`` (1.1): the regions outside those the agency declared that the council
    explicitly reaches into with this grant; without it a grant never takes an agency
    outside its declared regions.
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 1)

    grant_id: str

    def __post_init__(self) -> None:
        in_order(self, "valid_from", "valid_to", strictly=True)


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
