"""Försäkringskassan: semicolon CSV in Latin-1 (decimal comma) of benefit controls and recovery claims (återkrav)."""

from __future__ import annotations

from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Csv
from samband.schemas import BenefitControl, Envelope, RecoveryClaim

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


# a recovery claim decided on the outcome's day is its outcome: återkrav
_rows = syn.PaymentRows(
    "FK",
    COLUMNS,
    kinds=("KONTROLL", "ÅTERKRAV"),
    benefits=["sjukpenning", "bostadsbidrag", "aktivitetsersättning", "föräldrapenning"],
    paid=lambda i: i % 3 == 2,
    kronor=(2_000, 250_000),
    note=lambda rng: rng.choice(["felaktig utbetalning", "ingen avvikelse", "utreds vidare"]),
)
sample = _rows.sample
outcome_event = _rows.outcome_event
