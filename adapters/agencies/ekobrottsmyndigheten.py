"""Ekobrottsmyndigheten: an XML export of case notices, ``<Arende nr="...">`` with suspects and companies."""

from __future__ import annotations

import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Xml
from samband.schemas import EconomicCrimeNotice, Envelope

agency = "ekobrottsmyndigheten"
format = "xml"
native = Xml(record_tag="Arende", root_tag="Arendeforteckning")


def key(n: dict[str, Any]) -> str:
    return t.text(n, "@nr")


def to_envelope(n: dict[str, Any]) -> Envelope:
    suspects = t.items(n, "Misstankta.Person")
    companies = t.items(n, "Bolag.Orgnr")
    record = EconomicCrimeNotice(
        case_id=key(n),
        opened_on=t.date(n, "Inledd"),
        crime_type=t.text(n, "Brottstyp"),
        suspects=tuple(
            t.person(n, f"Misstankta.Person{'.' + str(i) if len(suspects) > 1 else ''}.Personnummer")
            for i in range(len(suspects))
        ),
        companies=tuple(
            t.organisation(n, f"Bolag.Orgnr{'.' + str(i) if len(companies) > 1 else ''}") for i in range(len(companies))
        ),
        estimated_damage_ore=t.amount_ore(n, "UppskattadSkada", optional=True),
    )
    return t.envelope(record, region=t.text(n, "Region"), operation=t.text(n, "Insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "@nr": syn.native_key(rng, "EBM"),
                "Inledd": syn.day(rng, i).isoformat(),
                "Brottstyp": rng.choice(["skattebrott", "bokföringsbrott", "penningtvätt"]),
                "Misstankta": {"Person": [{"Personnummer": syn.pnr_dashed(rng)} for _ in range(rng.randrange(1, 3))]},
                "Bolag": {"Orgnr": [syn.orgnr(rng) for _ in range(rng.randrange(1, 3))]},
                "UppskattadSkada": syn.kronor(rng, 100_000, 9_000_000),
                "Region": region,
                "Insats": operation,
            }
        )
    return out
