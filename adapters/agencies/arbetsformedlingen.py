"""Arbetsförmedlingen: semicolon CSV in UTF-8 with a byte-order mark: benefit controls and stopped payments."""

from __future__ import annotations

from typing import Any, TypedDict

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Csv
from samband.schemas import BenefitControl, Envelope, PersonRef, StoppedPayment

agency = "arbetsformedlingen"
format = "csv"
COLUMNS = ("Id", "Typ", "Datum", "Personnummer", "Ersättning", "Belopp", "Kommentar", "Region", "Insats")
native = Csv(encoding="utf-8-sig", columns=COLUMNS)
# Outcome categories its own records carry (a stopped payment is förhindrad felaktig utbetalning).
OUTCOME_EVENTS = ("stopped_payment",)


def key(n: dict[str, Any]) -> str:
    return t.text(n, "Id")


class _Common(TypedDict):
    person: PersonRef
    benefit: str


def to_envelope(n: dict[str, Any]) -> Envelope:
    common: _Common = dict(person=t.person(n, "Personnummer"), benefit=t.text(n, "Ersättning"))
    if t.choice(n, "Typ", {"Kontroll": "control", "Stoppad utbetalning": "stopped"}) == "control":
        record: Any = BenefitControl(
            control_id=key(n), opened_on=t.date(n, "Datum"), finding=t.text(n, "Kommentar", optional=True), **common
        )
    else:
        record = StoppedPayment(
            payment_id=key(n), stopped_on=t.date(n, "Datum"), amount_ore=t.amount_ore(n, "Belopp"), **common
        )
    return t.envelope(record, region=t.text(n, "Region"), operation=t.text(n, "Insats"))


# a payment stopped on the outcome's day is its outcome: förhindrad felaktig utbetalning
_rows = syn.PaymentRows(
    "AF",
    COLUMNS,
    kinds=("Kontroll", "Stoppad utbetalning"),
    benefits=["aktivitetsstöd", "etableringsersättning", "lönebidrag"],
    paid=lambda i: i % 2 == 1,
    kronor=(1_000, 60_000),
    note=lambda rng: "anställd som chaufför utan anmälan",
)
sample = _rows.sample
outcome_event = _rows.outcome_event
