"""Replaying the trail under a proposed policy: what a change would have disclosed, from the audit alone.

`replay(entries, current, proposed)` takes the audit entries of a window (no payloads), rebuilds
each record's facts from them (origin, region, operation, record type, handling marks, the time it
was decided) and decides it again with the router's own pure decision function under both
compiled policies (`Policy.route_facts`). A disclosure is an allow for (record, recipient); the
report counts, per recipient, record type and change, the disclosures added, removed, or whose
fields were widened or narrowed.

Why it is fast: a decision depends on the record's facts and on the time only through the
policies' bounds (`Policy.breakpoints`), so the two routes are computed once per (facts, interval
between bounds) and reused for every other record alike.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from samband.observability.audit import AuditRecord

from ._compile import Decision
from ._outcomes import OUTCOME
from ._policy import NOBODY, Facts, Policy

__all__ = ["Disclosure", "Replay", "replay"]

_NOT_RECORDS = ("ingest:", "DECISIONS#")  # refusals at the edge, refused decision messages: no record to decide


@dataclass
class Disclosure:
    """How one recipient's disclosures of one record type change."""

    recipient: str
    record_type: str
    what: str  # "added" | "removed" | "widened" | "narrowed" | "changed"
    records: int = 0
    fields_before: tuple[str, ...] = ()
    fields_after: tuple[str, ...] = ()
    rules: set[str] = field(default_factory=set)  # the rule that allows (after; before for removed)

    def text(self) -> str:
        n = f"{self.records:,} {self.record_type} record{'s' if self.records != 1 else ''}"
        if self.what == "added":
            return f"+ {self.recipient}: adds {n}, fields {', '.join(self.fields_after)}"
        if self.what == "removed":
            return f"- {self.recipient}: stops {n} (fields {', '.join(self.fields_before)})"
        gained = [f for f in self.fields_after if f not in self.fields_before]
        lost = [f for f in self.fields_before if f not in self.fields_after]
        parts = [f"adds fields {', '.join(gained)}" if gained else "", f"drops {', '.join(lost)}" if lost else ""]
        return f"~ {self.recipient}: {self.what} on {n}: {'; '.join(p for p in parts if p)}"

    def to_builtins(self) -> dict:
        return {
            "recipient": self.recipient,
            "record_type": self.record_type,
            "what": self.what,
            "records": self.records,
            "fields_before": list(self.fields_before),
            "fields_after": list(self.fields_after),
            "rules": sorted(self.rules),
        }


@dataclass
class Replay:
    current: str  # policy versions
    proposed: str
    entries: int = 0  # audit entries read
    records: int = 0  # records decided again
    outcomes: int = 0  # outcome records left out (their routing reads their content)
    unmarked: int = 0  # records whose entries carry no handling marks (written before audit entry 1.1)
    changes: dict[tuple[str, str, str, tuple, tuple], Disclosure] = field(default_factory=dict)

    @property
    def disclosures(self) -> list[Disclosure]:
        return sorted(self.changes.values(), key=lambda d: (d.recipient, d.record_type, d.what, d.fields_after))

    def lines(self, since: _dt.datetime, until: _dt.datetime) -> list[str]:
        window = f"{since.isoformat()} to {until.isoformat()}"
        if not self.entries:
            return [f"no audited decisions from {window}: nothing to replay"]
        out = [
            f"replayed {self.records:,} records ({self.entries:,} audited decisions) from {window} "
            f"under policy {self.current} and the proposed {self.proposed}"
        ]
        if self.outcomes:
            out.append(f"left out: {self.outcomes:,} outcome records (their routing reads their content)")
        if self.unmarked:
            out.append(f"left out: {self.unmarked:,} records audited before entries carried handling marks")
        found = self.disclosures
        if not found:
            return [*out, "no disclosure would change"]
        return out + [d.text() for d in found]

    def to_builtins(self, since: _dt.datetime, until: _dt.datetime) -> dict:
        return {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "policy_current": self.current,
            "policy_proposed": self.proposed,
            "entries": self.entries,
            "records": self.records,
            "left_out": {"outcomes": self.outcomes, "unmarked": self.unmarked},
            "disclosures": [d.to_builtins() for d in self.disclosures],
        }


def _allowed(decisions: list[tuple[str, Decision]]) -> dict[str, Decision]:
    return {r: d for r, d in decisions if d.allow and r != NOBODY}


_Diff = list[tuple[str, str, Decision | None, Decision | None]]


def _compare(before: dict[str, Decision], after: dict[str, Decision]) -> _Diff:
    out: _Diff = []
    for r in sorted(before.keys() | after.keys()):
        b, a = before.get(r), after.get(r)
        if b is None:
            out.append((r, "added", b, a))
        elif a is None:
            out.append((r, "removed", b, a))
        elif b.fields != a.fields:
            was, now = set(b.fields), set(a.fields)
            out.append((r, "widened" if was < now else "narrowed" if now < was else "changed", b, a))
    return out


def replay(entries: Iterable[AuditRecord], current: Policy, proposed: Policy) -> Replay:
    """Decide again every record the ``entries`` are about, under ``current`` and ``proposed``."""
    report = Replay(current.version, proposed.version)
    bounds = sorted(set(current.breakpoints()) | set(proposed.breakpoints()))
    seen: set[str] = set()
    cache: dict[tuple, list] = {}
    changes = report.changes
    for e in entries:
        report.entries += 1
        env_id = e.envelope_id
        if env_id in seen or env_id.startswith(_NOT_RECORDS):
            continue
        seen.add(env_id)
        if e.record_type == OUTCOME:
            report.outcomes += 1
            continue
        if e.handling is None:
            report.unmarked += 1
            continue
        report.records += 1
        at = e.at
        key = (e.origin, e.region, e.operation, e.record_type, e.handling, bisect.bisect_right(bounds, at))
        diff = cache.get(key)
        if diff is None:
            facts = Facts(
                origin=e.origin, region=e.region, operation=e.operation, record_type=e.record_type, handling=e.handling
            )
            diff = cache[key] = _compare(
                _allowed(current.route_facts(facts, at)), _allowed(proposed.route_facts(facts, at))
            )
        for recipient, what, b, a in diff:
            was = b.fields if b is not None else ()
            now = a.fields if a is not None else ()
            ck = (recipient, e.record_type, what, was, now)
            d = changes.get(ck)
            if d is None:
                d = changes[ck] = Disclosure(recipient, e.record_type, what, 0, was, now)
            d.rules.add((a or b).rule)  # type: ignore[union-attr]
            d.records += 1
    return report
