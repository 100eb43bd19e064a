"""The policy's cross-checks: what one file says about another (an operation's participants are
agencies, a grant's fields belong to its record types, ...). Each error names the file, the key
(a JSON path, as msgspec writes it) and the value.
"""

from __future__ import annotations

from typing import Any

import msgspec

from samband.schemas import RECORD_TYPES, REGIONS

from ._model import Grant, PolicyData
from ._outcomes import OUTCOME, OutcomeRules

__all__ = ["check_grant", "purposes", "record_fields", "required_fields", "validate"]


def record_fields(record_type: str) -> tuple[str, ...]:
    return RECORD_TYPES[record_type].__struct_fields__


def required_fields(record_type: str) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in msgspec.structs.fields(RECORD_TYPES[record_type])
        if f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT
    )


def _err(file: str, path: str, expected: str, value: Any) -> str:
    return f"{file}: Expected {expected}, got `{value}` - at `{path}`"


def _check_agencies(errs: list[str], file: str, path: str, slugs, data: PolicyData) -> None:
    for i, slug in enumerate(slugs):
        if slug not in data.agencies:
            errs.append(_err(file, f"{path}[{i}]", "an agency slug from agencies.toml", slug))


def _check_types(errs: list[str], file: str, path: str, types) -> None:
    for i, rt in enumerate(types):
        if rt not in RECORD_TYPES:
            errs.append(_err(file, f"{path}[{i}]", "a record type from samband.schemas", rt))


def _check_fields(errs: list[str], file: str, path: str, types, fields) -> None:
    known = {f for rt in types if rt in RECORD_TYPES for f in record_fields(rt)}
    for i, f in enumerate(fields):
        if f not in known:
            errs.append(_err(file, f"{path}.fields[{i}]", f"a field of {', '.join(types)}", f))
    for rt in types:
        if rt in RECORD_TYPES:
            missing = [f for f in required_fields(rt) if f not in fields]
            if missing:
                errs.append(
                    _err(
                        file,
                        f"{path}.fields",
                        f"every required field of {rt} (missing {', '.join(missing)})",
                        list(fields),
                    )
                )


def purposes(data: PolicyData) -> frozenset[str]:
    """Every purpose the need-to-know matrix knows (an operation may give its participants only these)."""
    return frozenset(p for by_purpose in data.need_to_know.values() for p in by_purpose)


def validate(data: PolicyData, *, agencies_known: bool = True) -> list[str]:
    """Every inconsistency, each naming file, key and value. ``agencies_known=False`` skips slug checks."""
    errs: list[str] = []
    if set(data.regions) != set(REGIONS):
        errs.append(
            _err("regions.toml", "$.regions", f"exactly the regions {', '.join(REGIONS)}", ", ".join(data.regions))
        )
    for basis_id, basis in data.legal_bases.items():
        for i, cov in enumerate(basis.coverage):
            if agencies_known:
                named = [a for a in cov.agencies if a != "*"]  # "*": every agency, present and future
                _check_agencies(
                    errs, "legal_bases.toml", f"$.legal_bases.{basis_id}.coverage[{i}].agencies", named, data
                )
            if cov.valid_to and cov.valid_to < cov.valid_from:
                errs.append(
                    _err(
                        "legal_bases.toml",
                        f"$.legal_bases.{basis_id}.coverage[{i}].valid_to",
                        f"a date on or after {cov.valid_from}",
                        cov.valid_to,
                    )
                )
    for op_id, op in data.operations.items():
        base = f"$.operations.{op_id}"
        if agencies_known:
            _check_agencies(errs, "operations.toml", f"{base}.participants", op.participants, data)
        _check_types(errs, "operations.toml", f"{base}.record_types", op.record_types)
        if op.legal_basis not in data.legal_bases:
            errs.append(_err("operations.toml", f"{base}.legal_basis", "a basis from legal_bases.toml", op.legal_basis))
        known_purposes = purposes(data)
        for agency, purpose in op.purposes.items():
            if agency not in op.participants:
                errs.append(_err("operations.toml", f"{base}.purposes.{agency}", "a purpose for a participant", agency))
            elif purpose not in known_purposes:
                errs.append(
                    _err("operations.toml", f"{base}.purposes.{agency}", "a purpose from need_to_know.toml", purpose)
                )
        if op.valid_to and op.valid_to < op.valid_from:
            errs.append(_err("operations.toml", f"{base}.valid_to", f"a date on or after {op.valid_from}", op.valid_to))
    for rt, by_purpose in data.need_to_know.items():
        if rt not in RECORD_TYPES:
            errs.append(_err("need_to_know.toml", f"$.need_to_know.{rt}", "a record type from samband.schemas", rt))
            continue
        for purpose, need in by_purpose.items():
            base = f"$.need_to_know.{rt}.{purpose}"
            if agencies_known:
                _check_agencies(errs, "need_to_know.toml", f"{base}.recipients", need.recipients, data)
            _check_fields(errs, "need_to_know.toml", base, (rt,), need.fields)
    for grant_id, g in data.grants.items():
        errs.extend(check_grant(grant_id, g, data, agencies_known=agencies_known))
    for rid, r in data.restrictions.items():
        base = f"$.restrictions.{rid}"
        if agencies_known:
            _check_agencies(errs, "restrictions.toml", f"{base}.origin", (r.origin,), data)
            _check_agencies(errs, "restrictions.toml", f"{base}.named_recipients", r.named_recipients or (), data)
        _check_types(errs, "restrictions.toml", f"{base}.record_types", [t for t in r.record_types if t != "*"])
    if data.outcomes is not None:
        errs.extend(_check_outcomes(data.outcomes, data, agencies_known=agencies_known))
    return errs


def _check_outcomes(o: OutcomeRules, data: PolicyData, *, agencies_known: bool) -> list[str]:
    errs: list[str] = []
    if agencies_known:
        _check_agencies(errs, "outcomes.toml", "$.outcomes.all_regions", o.all_regions, data)
        for region, recipients in o.regions.items():
            _check_agencies(errs, "outcomes.toml", f"$.outcomes.regions.{region}", recipients, data)
    _check_fields(errs, "outcomes.toml", "$.outcomes", (OUTCOME,), o.fields)
    if o.legal_basis not in data.legal_bases:
        errs.append(_err("outcomes.toml", "$.outcomes.legal_basis", "a basis from legal_bases.toml", o.legal_basis))
    for key in ("max_amount_ore", "max_cases", "report_within_days"):
        if getattr(o, key) < 1:
            errs.append(_err("outcomes.toml", f"$.outcomes.{key}", "a number of at least 1", getattr(o, key)))
    return errs


def check_grant(grant_id: str, g: Grant, data: PolicyData, *, agencies_known: bool = True) -> list[str]:
    errs: list[str] = []
    base = f"$.grants.{grant_id}"
    if agencies_known and g.agency not in data.agencies:
        errs.append(_err("cooptions.toml", f"{base}.agency", "an agency slug from agencies.toml", g.agency))
    if g.operation not in data.operations:
        errs.append(_err("cooptions.toml", f"{base}.operation", "an operation from operations.toml", g.operation))
    _check_types(errs, "cooptions.toml", f"{base}.record_types", g.record_types)
    _check_fields(errs, "cooptions.toml", base, g.record_types, g.fields)
    if g.legal_basis not in data.legal_bases:
        errs.append(_err("cooptions.toml", f"{base}.legal_basis", "a basis from legal_bases.toml", g.legal_basis))
    if g.valid_to <= g.valid_from:
        errs.append(
            _err(
                "cooptions.toml", f"{base}.valid_to", f"a time after {g.valid_from.isoformat()}", g.valid_to.isoformat()
            )
        )
    return errs
