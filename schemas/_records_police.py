"""Polismyndigheten's records: vehicle and person controls, overload reports, incidents."""

from __future__ import annotations

from typing import ClassVar, Literal

from ._base import Instant, OrganisationRef, PersonRef, Record, Schema, VehicleRef

__all__ = ["IncidentReport", "OverloadReport", "Passenger", "PersonControl", "VehicleControl"]


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
