"""Arbetsförmedlingen: semicolon CSV in UTF-8 with a byte-order mark: benefit controls and stopped payments."""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable
from functools import partial
from typing import Any, TypedDict

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Csv
from samband.schemas import BenefitControl, Envelope, PersonRef, StoppedPayment, format_kronor

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


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    return [
        _row(
            rng,
            partial(syn.day, rng, i),
            stopped=i % 2 == 1,
            amount=partial(syn.kronor, rng, 1_000, 60_000),
            region=region,
            operation=operation,
        )
        for i in range(n)
    ]


def outcome_event(
    rng: random.Random, category: str, amount_ore: int, day: _dt.date, *, region: str, operation: str
) -> dict[str, Any]:
    """A payment of ``amount_ore`` stopped on ``day`` (its outcome: förhindrad felaktig utbetalning)."""
    return _row(
        rng, lambda: day, stopped=True, amount=partial(format_kronor, amount_ore), region=region, operation=operation
    )


def _row(
    rng: random.Random,
    on: Callable[[], _dt.date],
    *,
    stopped: bool,
    amount: Callable[[], str],
    region: str,
    operation: str,
) -> dict[str, Any]:
    # the day and the amount are drawn in column order, so a seed gives the rows it always gave
    return {
        "Id": syn.native_key(rng, "AF"),
        "Typ": "Stoppad utbetalning" if stopped else "Kontroll",
        "Datum": on().isoformat(),
        "Personnummer": syn.pnr_dashed(rng),
        "Ersättning": rng.choice(["aktivitetsstöd", "etableringsersättning", "lönebidrag"]),
        "Belopp": amount() if stopped else "",
        "Kommentar": "" if stopped else "anställd som chaufför utan anmälan",
        "Region": region,
        "Insats": operation,
    }
