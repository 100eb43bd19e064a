"""Skatteverket: an ISO-8859-1 XML export of ``<Post typ="...">`` records.

``typ``: ``revision`` (tax audit), ``omprovning`` (reassessment, höjning av skatt, amounts in
kronor with decimal comma) and ``folkbokforing`` (population-register facts).
"""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from samband.adapters import _synthetic as syn
from samband.adapters import _transforms as t
from samband.adapters._formats import Xml
from samband.schemas import Envelope, PopulationFact, TaxAudit, TaxReassessment, format_kronor

agency = "skatteverket"
format = "xml"
native = Xml(record_tag="Post", root_tag="Skatteuppgifter", encoding="latin-1")
# Outcome categories its own records carry (a reassessment is höjning av skatt): see `outcome_event`.
OUTCOME_EVENTS = ("tax_reassessment",)


def key(n: dict[str, Any]) -> str:
    return t.text(n, "@id")


def to_envelope(n: dict[str, Any]) -> Envelope:
    kind = t.choice(n, "@typ", {"revision": "audit", "omprovning": "reassessment", "folkbokforing": "population"})
    if kind == "audit":
        record: Any = TaxAudit(
            audit_id=key(n),
            opened_on=t.date(n, "Beslutsdatum"),
            taxpayer=t.party(n, "Skattskyldig"),
            scope=t.text(n, "Omfattning"),
            status=t.choice(n, "Status", {"pågår": "opened", "avslutad": "closed"}, optional=True) or "opened",
        )
    elif kind == "reassessment":
        record = TaxReassessment(
            decision_id=key(n),
            decided_on=t.date(n, "Beslutsdatum"),
            taxpayer=t.party(n, "Skattskyldig"),
            tax_year=t.integer(n, "Inkomstar"),
            increase_ore=t.amount_ore(n, "Hojning"),
            surcharge_ore=t.amount_ore(n, "Skattetillagg", optional=True),
        )
    else:
        record = PopulationFact(
            person=t.person(n, "Skattskyldig"),
            fact=t.text(n, "Uppgift"),
            valid_from=t.date(n, "Beslutsdatum"),
            municipality=t.text(n, "Kommun", optional=True),
        )
    return t.envelope(record, region=t.text(n, "Region"), operation=t.text(n, "Insats"))


def sample(rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        kind = ("revision", "omprovning", "folkbokforing")[i % 3]
        rec: dict[str, Any] = {
            "@id": syn.native_key(rng, "SKV"),
            "@typ": kind,
            "Beslutsdatum": syn.day(rng, i).isoformat(),
            "Region": region,
            "Insats": operation,
        }
        if kind == "revision":
            rec |= {
                "Skattskyldig": syn.orgnr(rng),
                "Omfattning": "moms och arbetsgivaravgifter, bussbolag",
                "Status": rng.choice(["pågår", "avslutad"]),
            }
        elif kind == "omprovning":
            rec |= {
                "Skattskyldig": syn.pnr_plain(rng),
                "Inkomstar": "2016",
                "Hojning": syn.kronor(rng, 10_000, 900_000),
                "Skattetillagg": syn.kronor(rng, 1_000, 90_000),
            }
        else:
            rec |= {
                "Skattskyldig": syn.pnr_plain(rng),
                "Uppgift": rng.choice(["utvandrad", "okänd adress", "ny adress"]),
                "Kommun": rng.choice(["Helsingborg", "Malmö", "Trelleborg", "Ystad"]),
            }
        out.append(rec)
    return out


def outcome_event(
    rng: random.Random, category: str, amount_ore: int, day: _dt.date, *, region: str, operation: str
) -> dict[str, Any]:
    """A reassessment raising a person's tax by ``amount_ore`` on ``day`` (its outcome: höjning av skatt)."""
    return {
        "@id": syn.native_key(rng, "SKV"),
        "@typ": "omprovning",
        "Beslutsdatum": day.isoformat(),
        "Region": region,
        "Insats": operation,
        "Skattskyldig": syn.pnr_plain(rng),
        "Inkomstar": str(day.year - 1),
        "Hojning": format_kronor(amount_ore),
    }
