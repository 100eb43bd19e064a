"""Säkerhetspolisen: JSON-lines intelligence notes, always handling-restricted.

Each note names its recipients (``mottagare``); it is never shared onward, and material
from a foreign partner is marked so. The router enforces these and never widens them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.schemas import Envelope, Handling, IntelligenceNote

agency = "sakerhetspolisen"
format = "jsonl"


def key(n: dict[str, Any]) -> str:
    return t.text(n, "pmId")


def to_envelope(n: dict[str, Any]) -> Envelope:
    recipients = tuple(str(r) for r in t.items(n, "mottagare"))
    if not recipients:
        raise t.FieldError(
            "Expected at least one named recipient (notes are always handling-restricted), got none",
            field="mottagare",
            kind="missing-field",
        )
    record = IntelligenceNote(
        note_id=key(n),
        written_on=t.date(n, "datum"),
        classification=t.text(n, "klassificering"),
        summary=t.text(n, "sammanfattning"),
        persons=tuple(t.person(n, f"personer.{i}.personnummer") for i in range(len(t.items(n, "personer")))),
    )
    handling = Handling(
        named_recipients=recipients,
        no_onward_sharing=True,
        foreign_origin=t.boolean(n, "utlandsktUrsprung", optional=True) or False,
    )
    return t.envelope(record, region=t.text(n, "region"), operation=t.text(n, "insats"), handling=handling)


def sample(
    rng: random.Random,
    n: int,
    *,
    operation: str = "bacchus-2017",
    region: str = "syd",
    recipients: Sequence[str] = ("polisen",),
) -> list[dict[str, Any]]:
    return [
        {
            "pmId": syn.native_key(rng, "SAPO"),
            "datum": syn.day(rng, i).isoformat(),
            "klassificering": "HEMLIG",
            "sammanfattning": "uppgifter om finansiering av bussverksamheten",
            "personer": [{"personnummer": syn.pnr_dashed(rng)}],
            "mottagare": list(recipients),
            "utlandsktUrsprung": rng.random() < 0.2,
            "region": region,
            "insats": operation,
        }
        for i in range(n)
    ]
