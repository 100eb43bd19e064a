"""Försäkringskassan: semicolon CSV in Latin-1 (decimal comma) of benefit controls and recovery claims (återkrav)."""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Csv
from samband.schemas import BenefitControl, Envelope, RecoveryClaim, format_kronor

agency = "forsakringskassan"
format = "csv"
COLUMNS = ("Ärendenr", "Ärendetyp", "Beslutsdatum", "Personnummer", "Förmån", "Belopp", "Utfall", "Region", "Insats")
native = Csv(encoding="latin-1", columns=COLUMNS)
# Outcome categories its own records carry (a recovery claim is återkrav): see `outcome_event`.
OUTCOME_EVENTS = ("recovery_claim",)


def key(n: dict[str, Any]) -> str:
    return t.text(n, "Ärendenr")


def to_envelope(n: dict[str, Any]) -> Envelope:
    if t.choice(n, "Ärendetyp", {"KONTROLL": "control", "ÅTERKRAV": "claim"}) == "control":
        record: Any = BenefitControl(
            control_id=key(n),
            opened_on=t.date(n, "Beslutsdatum"),
            person=t.person(n, "Personnummer"),
            benefit=t.text(n, "Förmån"),
            finding=t.text(n, "Utfall", optional=True),
        )
    else:
        record = RecoveryClaim(
            claim_id=key(n),
            decided_on=t.date(n, "Beslutsdatum"),
            person=t.person(n, "Personnummer"),
            benefit=t.text(n, "Förmån"),
            amount_ore=t.amount_ore(n, "Belopp"),
        )
    return t.envelope(record, region=t.text(n, "Region"), operation=t.text(n, "Insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    return [
        _row(
            rng,
            partial(syn.day, rng, i),
            claim=i % 3 == 2,
            amount=partial(syn.kronor, rng, 2_000, 250_000),
            region=region,
            operation=operation,
        )
        for i in range(n)
    ]


def outcome_event(
    rng: random.Random, category: str, amount_ore: int, day: _dt.date, *, region: str, operation: str
) -> dict[str, Any]:
    """A recovery claim of ``amount_ore`` decided on ``day`` (its outcome: återkrav)."""
    return _row(
        rng, lambda: day, claim=True, amount=partial(format_kronor, amount_ore), region=region, operation=operation
    )


def _row(
    rng: random.Random,
    on: Callable[[], _dt.date],
    *,
    claim: bool,
    amount: Callable[[], str],
    region: str,
    operation: str,
) -> dict[str, Any]:
    # the day and the amount are drawn in column order, so a seed gives the rows it always gave
    return {
        "Ärendenr": syn.native_key(rng, "FK"),
        "Ärendetyp": "ÅTERKRAV" if claim else "KONTROLL",
        "Beslutsdatum": on().isoformat(),
        "Personnummer": syn.pnr_dashed(rng),
        "Förmån": rng.choice(["sjukpenning", "bostadsbidrag", "aktivitetsersättning", "föräldrapenning"]),
        "Belopp": amount() if claim else "",
        "Utfall": "" if claim else rng.choice(["felaktig utbetalning", "ingen avvikelse", "utreds vidare"]),
        "Region": region,
        "Insats": operation,
    }
