"""Declarative agency files: one TOML file per agency, validated with an error naming file, key and value."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from samband.schemas import RECORD_TYPES, REGIONS, Region

from ._errors import AgencyFileError
from ._quotas import LIMIT_RANGES, AgencyLimits, limit_problems

__all__ = [
    "RESERVED_SLUGS",
    "SENDABLE_RECORD_TYPES",
    "SLUG_PATTERN",
    "Agency",
    "ReviewMarks",
    "builtin_agencies",
    "load_agency_dir",
    "load_agency_file",
]

SLUG_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
# Record types an agency may send: the councils' decisions come from SSO and the platform's
# own messages from the platform, never from an agency's adapter.
SENDABLE_RECORD_TYPES: tuple[str, ...] = tuple(
    sorted(t for t in RECORD_TYPES if not t.startswith(("council.", "platform.")))
)
# Account names the renderer uses itself (case-insensitively, nats account names are case-sensitive
# but an agency called "router" would be confusing in every log line).
RESERVED_SLUGS = frozenset({"router", "sso", "sys", "auditor", "admin", "steward", "global"})


# How long a hold waits for the originator's officer before it lapses to withheld, by default and at
# most (the REVIEW bucket keeps an entry 90 days after its last change: see docs/governance.md).
REVIEW_LAPSE_HOURS, REVIEW_LAPSE_MAX_HOURS = 72, 30 * 24
_OPERATION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ReviewMarks(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[review]``: what the originator reviews before any disclosure (LUS 2 § second paragraph).

    Every record of these ``record_types``, or of these ``operations``, is held per recipient
    for the agency's officer (a record can also ask for it itself: ``handling.review_required``);
    a hold nobody decided on within ``lapse_hours`` is withheld."""

    record_types: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    lapse_hours: int = REVIEW_LAPSE_HOURS


class Agency(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One agency on the bus: its slug is its NATS account name and subject token.

    Tier ``centre``: the effort's joint centres (Nuc, the seven Ruc, Operativa rådet's national
    follow-up) are parties like agencies, each with its account, credentials and inbox; they
    ship with samband and are never onboarded (docs/outcomes.md).
    """

    slug: str
    name: str
    tier: Literal["core", "network", "centre"]
    regions: tuple[Region, ...] = REGIONS
    sends: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    contact: str | None = None
    # The declarative adapter's mapping file, relative to the agency file (config-only agencies).
    mapping: str | None = None
    # Its share of the broker (`[limits]`, every key optional; defaults in _quotas.py and docs/operating.md).
    limits: AgencyLimits = AgencyLimits()
    # What the agency's officer reviews before disclosure (`[review]`; docs/governance.md).
    review: ReviewMarks = ReviewMarks()


_FIELDS = {f.name for f in msgspec.structs.fields(Agency)}
_REQUIRED = [f.name for f in msgspec.structs.fields(Agency) if f.required]


def _fail(path: Path, key: str, expected: str, got: object) -> AgencyFileError:
    return AgencyFileError(f"{path}: key `{key}`: Expected {expected}, got {got!r}")


def _check(raw: dict, path: Path) -> None:
    """The checks msgspec cannot phrase in the agency's words (its errors say `$.x`; ours name the key)."""
    for key in raw:
        if key not in _FIELDS:
            raise _fail(path, key, f"one of the keys {', '.join(sorted(_FIELDS))}", key)
    for key in _REQUIRED:
        if key not in raw:
            raise AgencyFileError(f"{path}: key `{key}`: Expected a value, got nothing (the key is missing)")
    slug = raw["slug"]
    if not isinstance(slug, str) or not re.match(SLUG_PATTERN, slug):
        raise _fail(path, "slug", "lower-case letters, digits or `_`, 2-32 long, starting with a letter", slug)
    if slug in RESERVED_SLUGS:
        raise _fail(path, "slug", f"a name other than the platform's own ({', '.join(sorted(RESERVED_SLUGS))})", slug)
    for key, allowed, what in (("regions", REGIONS, "a region"), ("sends", SENDABLE_RECORD_TYPES, "a record type")):
        values = raw.get(key, [])
        if not isinstance(values, list):
            raise _fail(path, key, f"a list of {what.removeprefix('a ')}s", values)
        for i, value in enumerate(values):
            if value not in allowed:
                raise _fail(path, f"{key}[{i}]", f"{what} ({', '.join(allowed)})", value)
    limits = raw.get("limits", {})
    if not isinstance(limits, dict):
        raise _fail(path, "limits", "a table of limits", limits)
    for key, value in limits.items():
        if key not in LIMIT_RANGES:
            raise _fail(path, f"limits.{key}", f"one of the keys {', '.join(LIMIT_RANGES)}", key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, f"limits.{key}", "an integer", value)
    _check_review(raw.get("review", {}), path)


_REVIEW_KEYS = ("record_types", "operations", "lapse_hours")


def _sendable(value: object) -> bool:
    return value in SENDABLE_RECORD_TYPES


def _operation(value: object) -> bool:
    return isinstance(value, str) and _OPERATION.match(value) is not None


def _check_review(review: object, path: Path) -> None:
    if not isinstance(review, dict):
        raise _fail(path, "review", "a table (record_types, operations, lapse_hours)", review)
    for key in review:
        if key not in _REVIEW_KEYS:
            raise _fail(path, f"review.{key}", f"one of the keys {', '.join(_REVIEW_KEYS)}", key)
    for key, ok, what, many in (
        ("record_types", _sendable, f"a record type ({', '.join(SENDABLE_RECORD_TYPES)})", "record types"),
        ("operations", _operation, "an operation id (like bacchus-2017)", "operation ids"),
    ):
        values = review.get(key, [])
        if not isinstance(values, list):
            raise _fail(path, f"review.{key}", f"a list of {many}", values)
        for i, value in enumerate(values):
            if not ok(value):
                raise _fail(path, f"review.{key}[{i}]", what, value)
    hours = review.get("lapse_hours", REVIEW_LAPSE_HOURS)
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= REVIEW_LAPSE_MAX_HOURS:
        raise _fail(path, "review.lapse_hours", f"an integer from 1 to {REVIEW_LAPSE_MAX_HOURS} (hours)", hours)


def load_agency_file(path: Path | str, *, text: str | None = None, require_mapping: bool | None = None) -> Agency:
    """Read and validate one agency file.

    A network agency joins by configuration only, so its file must name a mapping file that
    exists (``require_mapping`` defaults to "when the tier is network").
    """
    path = Path(path)
    try:
        raw_text = text if text is not None else path.read_text(encoding="utf-8")
        raw = msgspec.toml.decode(raw_text)
    except (msgspec.DecodeError, OSError, UnicodeDecodeError) as exc:
        raise AgencyFileError(f"{path}: Expected an agency file (UTF-8 TOML), got {exc}") from exc
    if not isinstance(raw, dict):
        raise AgencyFileError(f"{path}: Expected a TOML table, got {type(raw).__name__}")
    _check(raw, path)
    try:
        agency = msgspec.convert(raw, type=Agency)
    except msgspec.ValidationError as exc:
        # msgspec says `$.key`; keep its words and say which file.
        raise AgencyFileError(f"{path}: {exc}") from exc
    for key, expected, value in limit_problems(agency.limits):
        raise _fail(path, f"limits.{key}", expected, value)
    if require_mapping is None:
        require_mapping = agency.tier == "network"
    if require_mapping:
        if not agency.mapping:
            raise AgencyFileError(
                f"{path}: key `mapping`: Expected the path of the agency's adapter mapping file "
                "(a network agency joins by configuration only), got nothing (the key is missing)"
            )
        target = mapping_path(agency, path)
        if not target.is_file():
            raise _fail(path, "mapping", f"an existing mapping file (looked for {target})", agency.mapping)
    return agency


def mapping_path(agency: Agency, agency_file: Path) -> Path:
    """The mapping file an agency file names, resolved against the agency file's folder."""
    assert agency.mapping is not None
    return (Path(agency_file).parent / agency.mapping).resolve()


def builtin_agencies() -> dict[str, Agency]:
    """The agency files shipped in the package: the twelve core agencies and the nine centres.

    The nine network agencies join live with ``samband onboard`` (examples/onboarding/).
    """
    folder = resources.files("samband.broker_config") / "agencies"
    return load_agency_dir(Path(str(folder)), require_mapping=False)


def load_agency_dir(folder: Path, *, require_mapping: bool | None = None) -> dict[str, Agency]:
    """Every ``*.toml`` agency file in ``folder``; two files with one slug are refused, naming both."""
    out: dict[str, Agency] = {}
    files: dict[str, Path] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        agency = load_agency_file(path, require_mapping=require_mapping)
        if agency.slug in out:
            raise AgencyFileError(
                f"{path}: key `slug`: Expected a slug no other agency file uses, "
                f"got {agency.slug!r} (also in {files[agency.slug]})"
            )
        out[agency.slug], files[agency.slug] = agency, path
    return out
