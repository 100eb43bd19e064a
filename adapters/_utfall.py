"""The outcome export (utfallsrapport): one CSV template every agency's follow-up fills in.

For results no record type carries (Polisen's seized cash, fines, Tullverket's transport
surcharges, Kronofogden's collected debts, a recovery claim only requested), an agency exports
them explicitly in one shared format, read by its own adapter (``samband adapter run AGENCY
--outcome-export --source FILE``)::

    Id;Myndighet;Region;Insats;Kategori;Belopp;Status;Antal;Från;Till
    PM-U-1;polisen;mitt;samverkan-mitt;beslag;1 250 000,00;beslutat;3;2020-03-01;2020-03-31

Semicolons, UTF-8 with a byte-order mark, amounts in kronor with a decimal comma. ``Kategori``
is the category's Swedish words or its id; ``Status`` ``beslutat`` (default) or ``begärt``;
``Antal`` the number of decisions summed (optional). A row for another agency than the
adapter's own, an unknown category or an amount that is not above zero is a dead letter.
"""

from __future__ import annotations

import random
from typing import Any

from samband.schemas import OUTCOME_CATEGORIES, Envelope, Outcome

from . import _transforms as t
from ._formats import Csv
from ._transforms import FieldError

__all__ = ["OUTCOME_EXPORT_COLUMNS", "OutcomeExport", "outcome_row"]

OUTCOME_EXPORT_COLUMNS = (
    "Id",
    "Myndighet",
    "Region",
    "Insats",
    "Kategori",
    "Belopp",
    "Status",
    "Antal",
    "Från",
    "Till",
)
_CATEGORY = {name: cid for cid, name in OUTCOME_CATEGORIES.items()} | {cid: cid for cid in OUTCOME_CATEGORIES}
_STATUS = {"beslutat": "decided", "begärt": "requested", "": "decided"}


def outcome_row(
    key: str,
    agency: str,
    *,
    region: str,
    operation: str,
    category: str,
    amount_ore: int,
    period: tuple[Any, Any],
    status: str = "decided",
    cases: int | None = None,
) -> dict[str, str]:
    """One row of the export, as an agency's follow-up writes it (Swedish words, kronor)."""
    whole = f"{amount_ore // 100:,}".replace(",", " ")
    return {
        "Id": key,
        "Myndighet": agency,
        "Region": region,
        "Insats": operation,
        "Kategori": OUTCOME_CATEGORIES[category],
        "Belopp": f"{whole},{amount_ore % 100:02d}",
        "Status": "begärt" if status == "requested" else "beslutat",
        "Antal": "" if cases is None else str(cases),
        "Från": period[0].isoformat(),
        "Till": period[1].isoformat(),
    }


def _text(n: dict[str, Any], key: str) -> str:
    """A required text column (`t.text` raises when it is blank, so it is never None here)."""
    value = t.text(n, key)
    assert value is not None
    return value


class OutcomeExport:
    """The outcome export as one agency's adapter reads it (an `AgencyMapping`)."""

    format = "csv"
    native = Csv(encoding="utf-8-sig", columns=OUTCOME_EXPORT_COLUMNS)
    suffix = ".utfall.csv"

    def __init__(self, agency: str) -> None:
        self.agency = agency

    def key(self, n: dict[str, Any]) -> str:
        return f"utfall:{t.text(n, 'Id')}"

    def to_envelope(self, n: dict[str, Any]) -> Envelope:
        named = _text(n, "Myndighet")
        if named != self.agency:
            raise FieldError(
                f"Expected `{self.agency}` (this adapter's agency), got `{named[:40]}`", field="$.Myndighet"
            )
        category = _CATEGORY.get(_text(n, "Kategori").lower())
        if category is None:
            raise FieldError(
                f"Expected a category ({', '.join(OUTCOME_CATEGORIES.values())}), got `{_text(n, 'Kategori')[:40]}`",
                field="$.Kategori",
            )
        amount = t.amount_ore(n, "Belopp")
        if amount <= 0:
            raise FieldError(f"Expected an amount above 0 kr, got `{_text(n, 'Belopp')[:40]}`", field="$.Belopp")
        region, operation = _text(n, "Region"), _text(n, "Insats")
        record = Outcome(
            agency=self.agency,
            region=region,  # type: ignore[arg-type] # checked by the envelope
            operation=operation,
            category=category,
            amount_ore=amount,
            period_from=t.date(n, "Från"),
            period_to=t.date(n, "Till"),
            status=t.choice(n, "Status", _STATUS, optional=True) or "decided",
            cases=t.integer(n, "Antal", optional=True),
        )
        return t.envelope(record, region=region, operation=operation, legal_basis="OSL 2009:400 6 kap. 5 §")

    def sample(
        self, rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd"
    ) -> list[dict[str, str]]:
        import datetime as _dt

        start = _dt.date(2017, 1, 9)
        out = []
        for i in range(n):
            day = start + _dt.timedelta(days=7 * i + rng.randrange(7))
            out.append(
                outcome_row(
                    f"{self.agency[:3].upper()}-U-{rng.getrandbits(40):010X}",
                    self.agency,
                    region=region,
                    operation=operation,
                    category=rng.choice(list(OUTCOME_CATEGORIES)),
                    amount_ore=rng.randrange(1_000, 500_000) * 100,
                    period=(day, day),
                    cases=rng.choice([None, 1, rng.randrange(2, 20)]),
                )
            )
        return out
