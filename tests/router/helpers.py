"""Building envelopes for policy tests (synthetic identifiers with valid checksums)."""

from __future__ import annotations

import datetime as _dt
import random

from samband.schemas import (
    Envelope,
    Handling,
    OrganisationRef,
    OverloadReport,
    PersonRef,
    VehicleControl,
    VehicleRef,
    new_envelope_id,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)

UTC = _dt.UTC
AT = _dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
IN_2017 = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=UTC)


def vehicle_control(
    rng: random.Random | None = None,
    *,
    origin: str = "polisen",
    operation: str = "bacchus-2017",
    region: str = "syd",
    handling: Handling = Handling(),
) -> Envelope:
    rng = rng or random.Random(1)
    vehicle = VehicleRef(plate=synthetic_plate(rng))
    driver = PersonRef(pnr=synthetic_personnummer(rng))
    rec = VehicleControl(
        control_id=f"PM-{rng.getrandbits(32):08x}",
        controlled_at=IN_2017,
        location="Helsingborg, färjeläget",
        vehicle=vehicle,
        vehicle_kind="buss",
        driver=driver,
        passengers=41,
        remark="alkohol över införselkvot",
    )
    return Envelope(
        id=new_envelope_id(),
        record=rec,
        origin=origin,
        region=region,
        operation=operation,
        produced_at=IN_2017,
        subjects=(vehicle, driver),
        handling=handling,
    )


def overload_report(
    rng: random.Random | None = None, *, handling: Handling = Handling(), origin: str = "polisen"
) -> Envelope:
    rng = rng or random.Random(2)
    vehicle = VehicleRef(plate=synthetic_plate(rng))
    operator = OrganisationRef(orgnr=synthetic_orgnr(rng))
    rec = OverloadReport(
        report_id=f"PM-OL-{rng.getrandbits(32):08x}",
        weighed_at=IN_2017,
        location="Helsingborg",
        vehicle=vehicle,
        operator=operator,
        measured_kg=21_300,
        permitted_kg=18_000,
    )
    return Envelope(
        id=new_envelope_id(),
        record=rec,
        origin=origin,
        region="syd",
        operation="bacchus-2017",
        produced_at=IN_2017,
        subjects=(vehicle, operator),
        handling=handling,
    )
