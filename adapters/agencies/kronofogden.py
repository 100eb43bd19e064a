"""Kronofogdemyndigheten: fixed-width Latin-1 records from the enforcement register.

Record types (first two characters): ``SK`` debt (skuld), ``UT`` distraint (utmätning),
``BS`` payment security (betalningssäkring). Amounts are in öre, dates ``YYYYMMDD``.
"""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any, TypedDict

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import FixedWidth
from samband.schemas import Debt, Distraint, Envelope, OrganisationRef, PaymentSecurity, PersonRef

agency = "kronofogden"
format = "fixed"
_COMMON = [("malnr", 14), ("datum", 8), ("galdenar", 13), ("region", 10), ("insats", 20)]
native = FixedWidth(
    type_field="posttyp",
    encoding="latin-1",
    layouts={
        "SK": _COMMON + [("borgenar", 30), ("belopp", 13)],
        "UT": _COMMON + [("egendom", 30), ("varde", 13), ("regnr", 7)],
        "BS": _COMMON + [("belopp", 13)],
    },
)
# Outcome categories its own records carry (utmätning, betalningssäkring): see `outcome_event`.
OUTCOME_EVENTS = ("distraint", "payment_security")


def key(n: dict[str, Any]) -> str:
    return f"{t.text(n, 'posttyp')}-{t.text(n, 'malnr')}"


class _Common(TypedDict):
    case_id: str
    debtor: PersonRef | OrganisationRef


def to_envelope(n: dict[str, Any]) -> Envelope:
    common: _Common = dict(case_id=t.text(n, "malnr"), debtor=t.party(n, "galdenar"))
    kind = t.text(n, "posttyp")
    if kind == "SK":
        record: Any = Debt(
            registered_on=t.date(n, "datum", "%Y%m%d"),
            creditor=t.text(n, "borgenar"),
            amount_ore=t.amount_ore(n, "belopp", unit="ore"),
            **common,
        )
    elif kind == "UT":
        record = Distraint(
            decided_on=t.date(n, "datum", "%Y%m%d"),
            property=t.text(n, "egendom"),
            value_ore=t.amount_ore(n, "varde", unit="ore", optional=True),
            vehicle=t.vehicle(n, "regnr", optional=True),
            **common,
        )
    else:
        record = PaymentSecurity(
            decided_on=t.date(n, "datum", "%Y%m%d"), amount_ore=t.amount_ore(n, "belopp", unit="ore"), **common
        )
    return t.envelope(record, region=t.text(n, "region"), operation=t.text(n, "insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        kind = ("SK", "UT", "BS")[i % 3]
        debtor = syn.orgnr(rng) if rng.random() < 0.3 else syn.pnr_dashed(rng)
        rec = {
            "posttyp": kind,
            "malnr": syn.native_key(rng, "KFM")[:14],
            "datum": syn.day(rng, i).strftime("%Y%m%d"),
            "galdenar": debtor,
            "region": region,
            "insats": operation,
        }
        if kind == "SK":
            rec |= {
                "borgenar": rng.choice(["Skatteverket", "CSN", "Försäkringskassan"]),
                "belopp": str(rng.randrange(10**5, 10**9)),
            }
        elif kind == "UT":
            plate = syn.plate(rng)
            rec |= {
                "egendom": f"buss {plate}" if rng.random() < 0.5 else "banktillgodohavande",
                "varde": str(rng.randrange(10**5, 10**8)),
                "regnr": plate,
            }
        else:
            rec |= {"belopp": str(rng.randrange(10**6, 10**9))}
        out.append(rec)
    return out


def outcome_event(
    rng: random.Random, category: str, amount_ore: int, day: _dt.date, *, region: str, operation: str
) -> dict[str, Any]:
    """A distraint of property worth ``amount_ore``, or a payment security of it, on ``day``."""
    rec = {
        "posttyp": "UT" if category == "distraint" else "BS",
        "malnr": syn.native_key(rng, "KFM")[:14],
        "datum": day.strftime("%Y%m%d"),
        "galdenar": syn.orgnr(rng) if rng.random() < 0.3 else syn.pnr_dashed(rng),
        "region": region,
        "insats": operation,
    }
    if category == "distraint":
        plate = syn.plate(rng)
        return rec | {"egendom": f"buss {plate}", "varde": str(amount_ore), "regnr": plate}
    return rec | {"belopp": str(amount_ore)}
