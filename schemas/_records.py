"""The record types the agencies exchange (the envelope's tagged union)."""

from __future__ import annotations

import datetime as _dt

from ._base import PersonRef, Record, VehicleRef

__all__ = ["VehicleControl", "RECORD_TYPES", "AnyRecord"]


class VehicleControl(Record, tag="police.vehicle_control", kw_only=True):
    """Polisen: a vehicle (and its driver) checked at a control point."""

    control_id: str
    controlled_at: _dt.datetime
    location: str
    vehicle: VehicleRef
    vehicle_kind: str
    driver: PersonRef | None = None
    passengers: int = 0
    remark: str | None = None


RECORD_TYPES: dict[str, type[Record]] = {
    cls.__struct_config__.tag: cls for cls in (VehicleControl,)
}

AnyRecord = VehicleControl
