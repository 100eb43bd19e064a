"""Small record builders for the broker tests (synthetic data only)."""

from __future__ import annotations

import datetime as _dt
import random

from samband.schemas import Envelope, VehicleControl, VehicleRef, encode, new_envelope_id, synthetic_plate


def vehicle_control(rng: random.Random, *, origin: str | None = None, region: str = "syd") -> Envelope:
    now = _dt.datetime.now(_dt.UTC)
    plate = synthetic_plate(rng)
    return Envelope(
        id=new_envelope_id(),
        record=VehicleControl(
            control_id=f"PM-{rng.randrange(10**9)}",
            controlled_at=now,
            location="Helsingborg",
            vehicle=VehicleRef(plate=plate),
            vehicle_kind="buss",
        ),
        origin=origin,
        region=region,
        operation="bacchus-2017",
        produced_at=now,
        subjects=(VehicleRef(plate=plate),),
    )


def vehicle_control_bytes(rng: random.Random, **kw) -> tuple[Envelope, bytes]:
    env = vehicle_control(rng, **kw)
    return env, encode(env)
