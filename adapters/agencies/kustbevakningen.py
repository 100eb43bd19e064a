"""Kustbevakningen: JSON-lines maritime controls (vessel, master, finding)."""

from __future__ import annotations

import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.schemas import Envelope, MaritimeControl

agency = "kustbevakningen"
format = "jsonl"


def key(n: dict[str, Any]) -> str:
    return t.text(n, "kontrollnummer")


def to_envelope(n: dict[str, Any]) -> Envelope:
    record = MaritimeControl(
        control_id=key(n),
        controlled_at=t.datetime(n, "tid"),
        position=t.text(n, "position"),
        vessel=f"{t.text(n, 'fartyg.namn')} (IMO {t.integer(n, 'fartyg.imo')})",
        master=t.person(n, "befalhavare.personnummer", optional=True),
        finding=t.text(n, "iakttagelse", optional=True),
    )
    return t.envelope(record, region=t.text(n, "region"), operation=t.text(n, "insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "kontrollnummer": syn.native_key(rng, "KBV"),
                "tid": syn.moment(rng, i, minutes=40, aware=True).isoformat(),
                "position": f"N 56°{rng.randrange(0, 6):02d},{rng.randrange(10)}' "
                f"E 012°{rng.randrange(35, 45)},{rng.randrange(10)}'",
                "fartyg": {
                    "namn": rng.choice(["M/S Aurora", "M/S Hamlet", "M/S Tycho Brahe"]),
                    "imo": 9_000_000 + rng.randrange(10**6),
                },
                "befalhavare": {"personnummer": syn.pnr_dashed(rng)},
                "iakttagelse": rng.choice(
                    ["lastbilar med alkohol ombord", "ingen anmärkning", "bussar ombord, se Polisen"]
                ),
                "region": region,
                "insats": operation,
            }
        )
    return out
