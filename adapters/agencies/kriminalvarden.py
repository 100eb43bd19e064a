"""Kriminalvården: semicolon CSV in Latin-1 of client placements (anstalt, häkte, frivård)."""

from __future__ import annotations

import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Csv
from samband.schemas import Envelope, PrisonPlacement

agency = "kriminalvarden"
format = "csv"
COLUMNS = ("Placeringsid", "Personnummer", "Placeringsform", "Enhet", "Från", "Till", "Region", "Insats")
native = Csv(encoding="latin-1", columns=COLUMNS)
_KINDS = {"Anstalt": "prison", "Häkte": "remand", "Frivård": "probation"}


def key(n: dict[str, Any]) -> str:
    return t.text(n, "Placeringsid")


def to_envelope(n: dict[str, Any]) -> Envelope:
    record = PrisonPlacement(
        client=t.person(n, "Personnummer"),
        kind=t.choice(n, "Placeringsform", _KINDS),
        unit=t.text(n, "Enhet"),
        from_date=t.date(n, "Från"),
        to_date=t.date(n, "Till", optional=True),
    )
    return t.envelope(record, region=t.text(n, "Region"), operation=t.text(n, "Insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        kind = rng.choice(list(_KINDS))
        unit = {"Anstalt": "Anstalten Ystad", "Häkte": "Häktet Helsingborg", "Frivård": "Frivården Helsingborg"}[kind]
        out.append(
            {
                "Placeringsid": syn.native_key(rng, "KV"),
                "Personnummer": syn.pnr_dashed(rng),
                "Placeringsform": kind,
                "Enhet": unit,
                "Från": syn.day(rng, i).isoformat(),
                "Till": "" if kind == "Häkte" else "2018-01-31",
                "Region": region,
                "Insats": operation,
            }
        )
    return out
