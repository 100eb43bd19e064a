"""Outcomes (utfall) go to the follow-up: the region's Ruc and Operativa rådet's national follow-up.

``outcomes.toml`` says who receives the outcomes of each region, with which fields, on which
legal basis, and what an outcome may claim (amount bounds). Every operation's outcomes are
routed by it, whether or not the operation lists ``outcome`` among its record types: the
follow-up is Operativa rådet's decision for all of them. The operation's other participants
are candidates for an outcome only when the operation lists the type itself.

An outcome is refused as a whole (one audited denial, recipient ``-``) when it is not the
sender's own (its ``agency`` is not the publishing account), when it claims another region
or operation than its envelope, or names an unknown category, an amount outside the bounds,
a count of cases below one, or a period that has not begun. The checks are pure: they look
at the envelope and the decision time only.
"""

from __future__ import annotations

import datetime as _dt
from zoneinfo import ZoneInfo

import msgspec

from samband.schemas import (
    OUTCOME_CATEGORIES,
    PNR_SHAPE,
    Envelope,
    Outcome,
    Region,
    format_kronor,
    mask_personnummer,
)

__all__ = ["OUTCOME", "OutcomeRoutes", "OutcomeRules"]

OUTCOME = "outcome"
_STOCKHOLM = ZoneInfo("Europe/Stockholm")


class OutcomeRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[outcomes]`` in outcomes.toml: the follow-up's recipients, fields and bounds.

    ``regions`` maps a region (or ``national``) to the recipients of its outcomes (its Ruc);
    ``all_regions`` receive every region's (the national follow-up). ``report_within_days``:
    an operation's outcomes still reach the follow-up this long after the operation ends (or
    after it was closed), since results are counted after the work is done.
    """

    id: str
    decided_by: str
    purpose: str = "follow_up"
    legal_basis: str
    fields: tuple[str, ...]
    regions: dict[Region, tuple[str, ...]] = {}
    all_regions: tuple[str, ...] = ()
    max_amount_ore: int = 100_000_000_000
    max_cases: int = 100_000
    report_within_days: int = 400


def _shown(value: object, limit: int = 40) -> str:
    """A sender's value as a message may quote it: cut short, anything shaped like a personnummer masked."""
    text = str(value)
    text = text if len(text) <= limit else text[:limit] + "…"
    return PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), text)


class OutcomeRoutes:
    """`OutcomeRules` compiled: the recipients per region, and the checks on one outcome."""

    __slots__ = ("grace", "rules")

    def __init__(self, rules: OutcomeRules) -> None:
        self.rules = rules
        self.grace = _dt.timedelta(days=rules.report_within_days)

    def recipients(self, region: str) -> tuple[str, ...]:
        """Who follows up the outcomes of ``region``: its own recipients, then the national follow-up."""
        own = self.rules.regions.get(region, ())  # type: ignore[call-overload]
        return own + tuple(r for r in self.rules.all_regions if r not in own)

    def reason(self, recipient: str, region: str) -> str:
        rules = self.rules
        whose = "every region's outcomes" if recipient in rules.all_regions else f"the outcomes of region {region}"
        return f"{recipient} follows up {whose} for {rules.decided_by} ({rules.purpose})"

    def check(self, env: Envelope, at: _dt.datetime) -> tuple[str, str] | None:
        """``(rule, reason)`` when the outcome itself is refused, else None."""
        rec = env.record
        assert isinstance(rec, Outcome)
        if rec.agency != env.origin:
            return (
                "deny.outcome-other-agency",
                f"Expected `agency` to be `{env.origin}` (the publishing account), got `{_shown(rec.agency)}`"
                " - at `$.record.agency`",
            )
        if rec.region != env.region:
            return (
                "deny.outcome-other-region",
                f"Expected `region` to be `{env.region}` (the envelope's), got `{rec.region}` - at `$.record.region`",
            )
        if rec.operation is not None and rec.operation != env.operation:
            return (
                "deny.outcome-other-operation",
                f"Expected `operation` to be `{_shown(env.operation)}` (the envelope's) or absent, "
                f"got `{_shown(rec.operation)}` - at `$.record.operation`",
            )
        if rec.category not in OUTCOME_CATEGORIES:
            return (
                "deny.outcome-category",
                f"Expected a category id ({', '.join(OUTCOME_CATEGORIES)}), got `{_shown(rec.category)}`"
                " - at `$.record.category`",
            )
        top = self.rules.max_amount_ore
        if not 1 <= rec.amount_ore <= top:
            return (
                "deny.outcome-amount",
                f"Expected an amount from 0,01 to {format_kronor(top)} kr ({top} öre), got {rec.amount_ore} öre"
                " - at `$.record.amount_ore`",
            )
        if rec.cases is not None and not 1 <= rec.cases <= self.rules.max_cases:
            return (
                "deny.outcome-cases",
                f"Expected from 1 to {self.rules.max_cases} cases, got {rec.cases} - at `$.record.cases`",
            )
        today = at.astimezone(_STOCKHOLM).date()
        if rec.period_from > today:
            return (
                "deny.outcome-period",
                f"Expected a period begun by {today.isoformat()}, got {rec.period_from.isoformat()}"
                " - at `$.record.period_from`",
            )
        return None
