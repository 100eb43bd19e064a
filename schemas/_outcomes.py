"""The outcome categories (utfall): stable ids, and the words the effort's own reports use.

An `Outcome` names its category by id; reports print the Swedish words. The first six are the
categories of region Mitt's 2020 report (seed 004); the others are the money results of
Operation Bacchus (the 2017 report, section 6) and the network agencies' sanctions. Ids never
change meaning; a new category is a new id (readers that do not know it show the id).
"""

from __future__ import annotations

__all__ = ["OUTCOME_CATEGORIES", "category_name", "format_kronor"]

OUTCOME_CATEGORIES: dict[str, str] = {
    "tax_reassessment": "höjning av skatt",
    "recovery_claim": "återkrav",
    "stopped_payment": "förhindrad felaktig utbetalning",
    "seizure": "beslag",
    "distraint": "utmätning",
    "payment_security": "betalningssäkring",
    "collection": "indrivning",
    "transport_surcharge": "transporttillägg",
    "fine": "böter",
    "sanction_fee": "sanktionsavgift",
}


def category_name(category: str) -> str:
    """The Swedish words for a category id; an unknown id is shown as it is."""
    return OUTCOME_CATEGORIES.get(category, category)


def format_kronor(ore: int) -> str:
    """An amount in öre as Swedish reports write kronor: ``123456789`` -> ``1 234 567,89`` (integers only)."""
    sign, ore = ("-", -ore) if ore < 0 else ("", ore)
    return f"{sign}{ore // 100:,}".replace(",", " ") + f",{ore % 100:02d}"
