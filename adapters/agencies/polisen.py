"""Polismyndigheten: JSON-lines control reports and incidents (e.g. the Bacchus bus controls at Helsingborg).

``rapporttyp`` picks the record: ``fordonskontroll`` (the default, for exports that predate
the field), ``overlast``, ``personkontroll``, ``handelse``. A vehicle control lists the
passengers whose identity was checked under ``passagerare`` (``personnummer``, ``roll``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.schemas import Envelope, IncidentReport, OverloadReport, Passenger, PersonControl, VehicleControl

agency = "polisen"
format = "jsonl"

_KEYS = {
    "fordonskontroll": "kontrollId",
    "personkontroll": "kontrollId",
    "overlast": "rapportId",
    "handelse": "diarienr",
}
# Polisen's words for a passenger's role on board -> the shared schema's.
_ROLES = {"passagerare": "passenger", "målvakt": "straw_buyer", "reseledare": "tour_leader", "andreförare": "co_driver"}


def _kind(native: dict[str, Any]) -> str:
    kind = native.get("rapporttyp") or "fordonskontroll"  # exports before the field are vehicle controls
    return kind if kind in _KEYS else t.choice(native, "rapporttyp", {k: k for k in _KEYS})


def key(native: dict[str, Any]) -> str:
    return t.text(native, _KEYS[_kind(native)])


def to_envelope(native: dict[str, Any]) -> Envelope:
    kind, n = _kind(native), native
    own_key = t.text(n, _KEYS[kind])
    if kind == "fordonskontroll":
        record: Any = VehicleControl(
            control_id=own_key,
            controlled_at=t.datetime(n, "tidpunkt"),
            location=t.text(n, "plats"),
            vehicle=t.vehicle(n, "regnr"),
            vehicle_kind=t.text(n, "fordonstyp"),
            driver=t.person(n, "forare.personnummer", optional=True),
            passengers=t.integer(n, "antalPassagerare", optional=True) or 0,
            remark=t.text(n, "anmarkning", optional=True),
            identified_passengers=_passengers(n),
        )
    elif kind == "personkontroll":
        record = PersonControl(
            control_id=own_key,
            controlled_at=t.datetime(n, "tidpunkt"),
            location=t.text(n, "plats"),
            person=t.person(n, "person.personnummer"),
            reason=t.text(n, "skal", optional=True),
            remark=t.text(n, "anmarkning", optional=True),
        )
    elif kind == "overlast":
        record = OverloadReport(
            report_id=own_key,
            weighed_at=t.datetime(n, "tidpunkt"),
            location=t.text(n, "plats"),
            vehicle=t.vehicle(n, "regnr"),
            operator=t.organisation(n, "transportor.orgnr", optional=True),
            measured_kg=t.integer(n, "uppmattViktKg"),
            permitted_kg=t.integer(n, "tillatenViktKg"),
        )
    else:
        record = IncidentReport(
            incident_id=own_key,
            occurred_at=t.datetime(n, "tidpunkt"),
            location=t.text(n, "plats"),
            offence=t.text(n, "brott"),
            suspects=tuple(t.person(n, f"misstankta.{i}.personnummer") for i in range(len(t.items(n, "misstankta")))),
            summary=t.text(n, "sammanfattning", optional=True),
        )
    return t.envelope(record, region=t.text(n, "region"), operation=t.text(n, "insats"))


def _passengers(n: dict[str, Any]) -> tuple[Passenger, ...]:
    return tuple(
        Passenger(
            person=t.person(n, f"passagerare.{i}.personnummer"),
            role=t.choice(n, f"passagerare.{i}.roll", _ROLES, optional=True) or "passenger",
        )
        for i in range(len(t.items(n, "passagerare")))
    )


def sample(
    rng: random.Random,
    n: int,
    *,
    operation: str = "bacchus-2017",
    region: str = "syd",
    kinds: Sequence[str] = ("fordonskontroll",),
) -> list[dict[str, Any]]:
    """Synthetic records as Polisen's export writes them; ``kinds`` rotate (e.g. add ``"overlast"``)."""
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        at = syn.moment(rng, i, aware=True).isoformat()
        common = {"tidpunkt": at, "plats": "Helsingborg, färjeläget", "region": region, "insats": operation}
        rec: dict[str, Any]  # a native record, as the export writes it
        if kind == "fordonskontroll":
            rec = {
                "kontrollId": syn.native_key(rng, "PM-2017"),
                **common,
                "regnr": syn.plate(rng),
                "fordonstyp": rng.choice(["buss", "buss", "minibuss", "personbil"]),
                "forare": {"personnummer": syn.pnr_dashed(rng)},
                "antalPassagerare": rng.randrange(0, 60),
                "anmarkning": rng.choice([None, "alkohol över införselkvot", "överlast", "ingen anmärkning"]),
                # the passengers whose identity was checked: a few per bus, some named as buyers of the
                # liquor, some travellers without a personnummer (a samordningsnummer)
                "passagerare": [
                    {
                        "personnummer": syn.pnr_dashed(rng, samordning=rng.random() < 0.25),
                        "roll": rng.choice(["passagerare", "målvakt", "målvakt"]),
                    }
                    for _ in range(rng.randrange(0, 4))
                ],
            }
        elif kind == "personkontroll":
            rec = {
                "rapporttyp": kind,
                "kontrollId": syn.native_key(rng, "PK-2017"),
                **common,
                "person": {"personnummer": syn.pnr_dashed(rng)},
                "skal": "passagerare i kontrollerad buss",
            }
        elif kind == "overlast":
            permitted = rng.choice([18_000, 19_500, 24_000])
            rec = {
                "rapporttyp": kind,
                "rapportId": syn.native_key(rng, "OL-2017"),
                **common,
                "regnr": syn.plate(rng),
                "transportor": {"orgnr": syn.orgnr(rng)},
                "uppmattViktKg": permitted + rng.randrange(300, 4000),
                "tillatenViktKg": permitted,
            }
        elif kind == "handelse":
            rec = {
                "rapporttyp": kind,
                "diarienr": syn.native_key(rng, "K"),
                **common,
                "brott": rng.choice(["olovlig försäljning av alkohol", "smuggling", "rattfylleri"]),
                "misstankta": [{"personnummer": syn.pnr_dashed(rng)}],
                "sammanfattning": "anmälan upprättad vid kontroll",
            }
        else:
            raise ValueError(f"Expected a Polisen report kind one of {tuple(_KEYS)}, got {kind!r}")
        out.append(rec)
    return out
