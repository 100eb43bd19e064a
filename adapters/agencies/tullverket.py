"""Tullverket: an XML export of seizures (``<Beslag>``) and consignment controls (``<Kontroll>``).

One export holds one kind; ``<Beslag>`` is the record element (consignment controls come
as ``<Beslag typ="kontroll">`` so one file can carry both, as the customs system writes them).
"""

from __future__ import annotations

import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Xml
from samband.schemas import ConsignmentControl, CustomsSeizure, Envelope

agency = "tullverket"
format = "xml"
native = Xml(record_tag="Beslag", root_tag="Tullexport", encoding="utf-8")


def key(native_: dict[str, Any]) -> str:
    return t.text(native_, "@id")


def to_envelope(n: dict[str, Any]) -> Envelope:
    if t.opt(n, "@typ") == "kontroll":
        record: Any = ConsignmentControl(
            control_id=key(n),
            controlled_at=t.datetime(n, "Tidpunkt"),
            declarant=t.organisation(n, "Deklarant.Orgnr"),
            goods=t.text(n, "Vara"),
            declared_value_ore=t.amount_ore(n, "DeklareratVarde", optional=True),
            finding=t.text(n, "Resultat", optional=True),
        )
    else:
        record = CustomsSeizure(
            seizure_id=key(n),
            seized_at=t.datetime(n, "Tidpunkt"),
            location=t.text(n, "Plats"),
            goods=t.text(n, "Vara"),
            quantity=t.quantity(n, "Mangd", optional=True),
            unit=t.text(n, "Enhet", optional=True),
            vehicle=t.vehicle(n, "Fordon.Regnr", optional=True),
            holder=t.person(n, "Innehavare.Personnummer", optional=True),
            company=t.organisation(n, "Foretag.Orgnr", optional=True),
        )
    return t.envelope(record, region=t.text(n, "Region"), operation=t.text(n, "Insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        common = {"Tidpunkt": syn.moment(rng, i).strftime("%Y-%m-%dT%H:%M:%S"), "Region": region, "Insats": operation}
        if i % 4 == 3:
            out.append(
                {
                    "@id": syn.native_key(rng, "TV-K"),
                    "@typ": "kontroll",
                    **common,
                    "Deklarant": {"Orgnr": syn.orgnr(rng)},
                    "Vara": "öl och vin, kommersiell sändning",
                    "DeklareratVarde": syn.kronor(rng, 5_000, 400_000),
                    "Resultat": "avvikelse mot deklaration",
                }
            )
        else:
            out.append(
                {
                    "@id": syn.native_key(rng, "TV-B"),
                    "@typ": "beslag",
                    **common,
                    "Plats": "Helsingborg, färjeläget",
                    "Vara": rng.choice(["sprit", "vin", "öl", "cigaretter"]),
                    "Mangd": f"{rng.randrange(20, 4000)},{rng.randrange(10)}",
                    "Enhet": "liter",
                    "Fordon": {"Regnr": syn.plate(rng)},
                    "Innehavare": {"Personnummer": syn.pnr_plain(rng)},
                    "Foretag": {"Orgnr": syn.orgnr(rng)},
                }
            )
    return out
