"""Migrationsverket: a JSON document ``{"beslut": [...]}`` of residence statuses and expulsion decisions (utvisning)."""

from __future__ import annotations

import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import JsonDocument
from samband.schemas import Envelope, ExpulsionDecision, ResidenceStatus

agency = "migrationsverket"
format = "json"
native = JsonDocument(array="beslut")


def key(n: dict[str, Any]) -> str:
    return t.text(n, "beslutsId")


def to_envelope(n: dict[str, Any]) -> Envelope:
    if t.choice(n, "typ", {"uppehallsstatus": "status", "utvisning": "expulsion"}) == "status":
        record: Any = ResidenceStatus(
            person=t.person(n, "person.identitet"),
            status=t.text(n, "status"),
            valid_until=t.date(n, "giltigTill", optional=True),
            work_permit=t.boolean(n, "arbetstillstand", optional=True),
        )
    else:
        record = ExpulsionDecision(
            decision_id=key(n),
            decided_on=t.date(n, "beslutsdatum"),
            person=t.person(n, "person.identitet"),
            ground=t.text(n, "grund"),
            enforceable=t.boolean(n, "verkstallbart", optional=True) or False,
        )
    return t.envelope(record, region=t.text(n, "region"), operation=t.text(n, "insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        person = {"identitet": syn.pnr_dashed(rng, samordning=rng.random() < 0.5)}
        rec: dict[str, Any] = {
            "beslutsId": syn.native_key(rng, "MIG"),
            "beslutsdatum": syn.day(rng, i).isoformat(),
            "person": person,
            "region": region,
            "insats": operation,
        }
        if i % 2 == 0:
            rec |= {
                "typ": "uppehallsstatus",
                "status": rng.choice(["arbetstillstånd", "saknar tillstånd", "asylsökande"]),
                "giltigTill": "2018-06-30",
                "arbetstillstand": rng.random() < 0.3,
            }
        else:
            rec |= {"typ": "utvisning", "grund": "arbete utan arbetstillstånd", "verkstallbart": True}
        out.append(rec)
    return out
