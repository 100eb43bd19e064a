"""Polismyndigheten: JSON-lines vehicle control reports (the Bacchus bus controls at Helsingborg)."""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from samband.schemas import (
    Envelope,
    PersonRef,
    VehicleControl,
    VehicleRef,
    new_envelope_id,
    normalise_personnummer,
    normalise_plate,
    synthetic_personnummer,
    synthetic_plate,
)

agency = "polisen"
format = "jsonl"


def key(native: dict[str, Any]) -> str:
    return str(native["kontrollId"])


def to_envelope(native: dict[str, Any]) -> Envelope:
    plate = VehicleRef(plate=normalise_plate(native["regnr"]))
    driver = None
    if native.get("forare"):
        driver = PersonRef(pnr=normalise_personnummer(native["forare"]["personnummer"]))
    record = VehicleControl(
        control_id=key(native),
        controlled_at=_dt.datetime.fromisoformat(native["tidpunkt"]),
        location=native["plats"],
        vehicle=plate,
        vehicle_kind=native["fordonstyp"],
        driver=driver,
        passengers=int(native.get("antalPassagerare", 0)),
        remark=native.get("anmarkning"),
    )
    return Envelope(
        id=new_envelope_id(),
        record=record,
        region=native["region"],
        operation=native["insats"],
        produced_at=_dt.datetime.now(_dt.timezone.utc),
        subjects=(plate,) + ((driver,) if driver else ()),
        legal_basis="LUS 2016:774",
    )


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    """Synthetic native records as Polisen's export writes them."""
    start = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=_dt.timezone(_dt.timedelta(hours=1)))
    out = []
    for i in range(n):
        pnr = synthetic_personnummer(rng)
        out.append({
            "kontrollId": f"PM-2017-{rng.getrandbits(40):010x}",
            "tidpunkt": (start + _dt.timedelta(minutes=7 * i)).isoformat(),
            "plats": "Helsingborg, färjeläget",
            "regnr": synthetic_plate(rng),
            "fordonstyp": rng.choice(["buss", "buss", "minibuss", "personbil"]),
            "forare": {"personnummer": f"{pnr[2:8]}-{pnr[8:]}"},
            "antalPassagerare": rng.randrange(0, 60),
            "anmarkning": rng.choice([None, "alkohol över införselkvot", "överlast", "ingen anmärkning"]),
            "region": region,
            "insats": operation,
        })
    return out
