"""Åklagarmyndigheten: JSON-lines prosecution decisions."""

from __future__ import annotations

import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.schemas import Envelope, ProsecutionDecision

agency = "aklagarmyndigheten"
format = "jsonl"
_DECISIONS = {
    "åtal": "indictment",
    "nedläggning": "no_prosecution",
    "strafföreläggande": "summary_penalty",
    "åtalsunderlåtelse": "waiver",
}


def key(n: dict[str, Any]) -> str:
    return t.text(n, "beslutsnummer")


def to_envelope(n: dict[str, Any]) -> Envelope:
    record = ProsecutionDecision(
        decision_id=key(n),
        decided_on=t.date(n, "beslutsdatum"),
        suspect=t.person(n, "misstankt.personnummer"),
        decision=t.choice(n, "beslut", _DECISIONS),
        offences=tuple(str(o) for o in (t.opt(n, "brott") or ())),
    )
    return t.envelope(record, region=t.text(n, "region"), operation=t.text(n, "insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    return [
        {
            "beslutsnummer": syn.native_key(rng, "AM"),
            "beslutsdatum": syn.day(rng, 10 + i).isoformat(),
            "misstankt": {"personnummer": syn.pnr_dashed(rng)},
            "beslut": rng.choice(list(_DECISIONS)),
            "brott": rng.sample(["olovlig försäljning av alkohol", "varusmuggling", "grovt skattebrott"], 2),
            "region": region,
            "insats": operation,
        }
        for i in range(n)
    ]
