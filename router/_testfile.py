"""Policy test files: given a record, a recipient and a time, expect allow/deny, a rule, fields.

A test file (TOML) names its records once and its cases after them::

    [records.vehicle-control]            # an envelope, as on the bus (origin = the sender)
    origin = "polisen"
    region = "syd"
    operation = "bacchus-2017"
    produced_at = 2017-03-03T20:00:00+01:00
    [records.vehicle-control.record]
    type = "police.vehicle_control"
    ...

    [[case]]
    name = "Tullverket gets the whole vehicle control"
    record = "vehicle-control"
    to = "tullverket"
    at = 2026-11-23T12:00:00Z
    expect = "allow"                     # or "deny"
    rule = "bacchus.vehicle-control.customs"       # optional
    fields = ["control_id", ...]                   # optional: exactly these
    handling = { named_recipients = ["tullverket"] }   # optional: this case's originator marks
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from samband.schemas import Envelope, Handling

from ._errors import PolicyError
from ._model import AwareDatetime, _convert, read_toml
from ._policy import Decision, Policy

__all__ = ["Case", "CaseResult", "TestReport", "load_test_file", "run_test_files"]


class Case(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    record: str
    to: str
    at: AwareDatetime
    expect: Literal["allow", "deny"]
    rule: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    fields: tuple[str, ...] | None = None
    no_onward_sharing: bool | None = None
    handling: Handling | None = None


@dataclass
class CaseResult:
    file: str
    case: Case
    decision: Decision | None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def nodeid(self) -> str:
        return f"{self.file}::{self.case.name}"


@dataclass
class TestReport:
    results: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # files that could not be loaded
    seconds: float = 0.0

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed


def load_test_file(path: Path) -> tuple[dict[str, Envelope], list[Case]]:
    name = path.name
    raw = read_toml(path, "policy test file", {"records", "case"})
    raw_records: dict[str, Any] = raw.get("records", {})
    records = {}
    for key, rec in raw_records.items():
        if isinstance(rec, dict):
            rec = {"id": f"policy-test-{key}", **rec}
        records[key] = _convert(rec, Envelope, f"$.records.{key}", name)
    cases = [_convert(c, Case, f"$.case[{i}]", name) for i, c in enumerate(raw.get("case", []))]
    for i, c in enumerate(cases):
        if c.record not in records:
            raise PolicyError(
                f"{name}: Expected a record named in [records], got `{c.record}` - at `$.case[{i}].record`"
            )
    return records, cases


def _check(case: Case, d: Decision) -> list[str]:
    out = []
    got = "allow" if d.allow else "deny"
    if got != case.expect:
        out.append(f"expected {case.expect}, got {got} by rule {d.rule}: {d.reason}")
        return out
    for attr in ("rule", "purpose", "legal_basis", "fields", "no_onward_sharing"):
        want = getattr(case, attr)
        have = getattr(d, attr)
        if want is not None and want != have:
            out.append(f"expected {attr} {_show(want)}, got {_show(have)}")
    return out


def _show(value: Any) -> str:
    return "[" + ", ".join(value) + "]" if isinstance(value, tuple) else repr(value)


def run_test_files(policy: Policy, paths: list[Path]) -> TestReport:
    report = TestReport()
    started = time.perf_counter()
    for path in paths:
        try:
            records, cases = load_test_file(path)
        except PolicyError as exc:
            report.errors.append(str(exc))
            continue
        for case in cases:
            env = records[case.record]
            if case.handling is not None:
                env = msgspec.structs.replace(env, handling=case.handling)
            d = policy.decide(env, case.to, case.at)
            report.results.append(CaseResult(str(path), case, d, _check(case, d)))
    report.seconds = time.perf_counter() - started
    return report
