"""The policy as data: the files' schemas and loading with located errors (the cross-checks: `_validate`).

A policy directory holds one TOML file per part (see docs/policy.md)::

    agencies.toml       [agencies.<slug>]            name, tier
    regions.toml        [regions.<id>]               name, council
    legal_bases.toml    [legal_bases."<basis>"]      title, [[...coverage]] agencies, valid_from, valid_to
    operations.toml     [operations.<id>]            name, scope, decided_by, participants, record_types, ...
    need_to_know.toml   [need_to_know."<type>".<purpose>]  recipients, fields
    cooptions.toml      [grants.<id>]                agency, operation, record_types, fields, valid_from/to, ...
    restrictions.toml   [restrictions.<id>]          origin, record_types, named_recipients, no_onward_sharing, ...
    outcomes.toml       [outcomes]                   id, decided_by, legal_basis, fields, regions, all_regions, ...

Every error names the file, the key (a JSON path, as msgspec writes it) and the value.
"""

from __future__ import annotations

import datetime as _dt
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from samband.schemas import GrantTerms, OperationTerms, Region

from ._errors import PolicyError
from ._outcomes import OutcomeRules

__all__ = [
    "POLICY_FILES",
    "AgencyEntry",
    "Coverage",
    "Grant",
    "LegalBasis",
    "Need",
    "Operation",
    "PolicyData",
    "RegionEntry",
    "Restriction",
    "load_policy_dir",
]

AwareDatetime = Annotated[_dt.datetime, msgspec.Meta(tz=True)]


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class AgencyEntry(_Model, frozen=True, kw_only=True):
    """An agency the policy knows. ``regions``: where it declared that it takes part (its agency file,
    announced at onboarding); absent means every region. An agency never receives from, nor sends
    into, an operation outside its regions unless a co-option grant names the operation's region."""

    name: str
    tier: Literal["core", "network", "centre"]
    regions: tuple[Region, ...] | None = None


class RegionEntry(_Model, frozen=True, kw_only=True):
    name: str
    council: str


class Coverage(_Model, frozen=True, kw_only=True):
    """The agencies a basis covers between two Swedish calendar days (``valid_to`` inclusive; open when absent)."""

    agencies: tuple[str, ...]
    valid_from: _dt.date
    valid_to: _dt.date | None = None


class LegalBasis(_Model, frozen=True, kw_only=True):
    title: str
    coverage: tuple[Coverage, ...]


class Operation(_Model, OperationTerms, frozen=True, kw_only=True):
    """A joint operation (insats) as its council decided it; ``purposes`` maps participant -> purpose.
    ``valid_from``/``valid_to`` are Swedish calendar days, inclusive. The fields are the decision
    record's (`OperationTerms`); the policy files key it by its id."""


class Need(_Model, frozen=True, kw_only=True):
    """One cell of the need-to-know matrix: for a record type and a purpose, who and which fields."""

    recipients: tuple[str, ...]
    fields: tuple[str, ...]
    id: str | None = None


class Grant(_Model, GrantTerms, frozen=True, kw_only=True):
    """A co-option (adjungering): one agency, one operation, listed record types and fields, a period.

    ``regions``: the regions outside the agency's declared ones that the council explicitly
    reaches into; without it the grant never takes the agency outside its declared regions.
    The fields are the decision record's (`GrantTerms`); the policy files key it by its id.
    """


class Restriction(_Model, frozen=True, kw_only=True):
    """A standing originator restriction: applies to every record of ``origin`` of these types."""

    origin: str
    record_types: tuple[str, ...]
    named_recipients: tuple[str, ...] | None = None
    no_onward_sharing: bool = False
    foreign_origin: bool = False
    reason: str


class PolicyData(_Model, frozen=True, kw_only=True):
    """The whole policy: the files merged with the councils' decisions and the registrations."""

    agencies: dict[str, AgencyEntry]
    regions: dict[str, RegionEntry]
    legal_bases: dict[str, LegalBasis]
    operations: dict[str, Operation] = {}
    need_to_know: dict[str, dict[str, Need]] = {}
    grants: dict[str, Grant] = {}
    restrictions: dict[str, Restriction] = {}
    outcomes: OutcomeRules | None = None


class _AgenciesFile(_Model, frozen=True, kw_only=True):
    agencies: dict[str, AgencyEntry]


class _RegionsFile(_Model, frozen=True, kw_only=True):
    regions: dict[str, RegionEntry]


class _LegalBasesFile(_Model, frozen=True, kw_only=True):
    legal_bases: dict[str, LegalBasis]


class _OperationsFile(_Model, frozen=True, kw_only=True):
    operations: dict[str, Operation] = {}


class _NeedFile(_Model, frozen=True, kw_only=True):
    need_to_know: dict[str, dict[str, Need]] = {}


class _CooptionsFile(_Model, frozen=True, kw_only=True):
    grants: dict[str, Grant] = {}


class _RestrictionsFile(_Model, frozen=True, kw_only=True):
    restrictions: dict[str, Restriction] = {}


class _OutcomesFile(_Model, frozen=True, kw_only=True):
    outcomes: OutcomeRules


# file name -> (top-level key, file schema); the first three are required, the others optional.
POLICY_FILES: dict[str, tuple[str, type]] = {
    "agencies.toml": ("agencies", _AgenciesFile),
    "regions.toml": ("regions", _RegionsFile),
    "legal_bases.toml": ("legal_bases", _LegalBasesFile),
    "operations.toml": ("operations", _OperationsFile),
    "need_to_know.toml": ("need_to_know", _NeedFile),
    "cooptions.toml": ("grants", _CooptionsFile),
    "restrictions.toml": ("restrictions", _RestrictionsFile),
    "outcomes.toml": ("outcomes", _OutcomesFile),
}
_OPTIONAL = {"operations.toml", "cooptions.toml", "restrictions.toml", "outcomes.toml"}


def _value_at(raw: Any, path: str) -> tuple[bool, Any]:
    """The value msgspec's error path points at (within one entry), to name it in the message."""
    node = raw
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path.removeprefix("$")):
        try:
            node = node[int(index)] if index else node[key]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _convert(raw: Any, tp: Any, path: str, file: str) -> Any:
    """``msgspec.convert`` one table at a time, so an error names the table's key (msgspec
    writes ``[...]`` for dict keys) and the offending value."""
    if typing.get_origin(tp) is dict and isinstance(raw, dict):
        _, value_type = typing.get_args(tp)
        return {k: _convert(v, value_type, f"{path}.{k}", file) for k, v in raw.items()}
    try:
        return msgspec.convert(raw, tp)
    except msgspec.ValidationError as exc:
        text = str(exc)
        head, sep, local = text.rpartition(" - at `")
        if not sep:
            raise PolicyError(f"{file}: {text} - at `{path}`") from exc
        local = local.rstrip("`")
        found, value = _value_at(raw, local)
        shown = value.isoformat() if isinstance(value, (_dt.date, _dt.time)) else repr(value)
        suffix = f" (value {shown})" if found and not isinstance(value, (dict, list)) else ""
        raise PolicyError(f"{file}: {head} - at `{path}{local.removeprefix('$')}`{suffix}") from exc


def read_toml(path: Path, what: str, keys: set[str]) -> dict[str, Any]:
    """The top-level table of a policy's TOML file (``what``: the kind of file, for the message),
    refused naming the file when it is unreadable, not TOML, or holds a key other than ``keys``."""
    try:
        raw = msgspec.toml.decode(path.read_bytes())
    except OSError as exc:
        raise PolicyError(f"{path.name}: Expected a readable {what}, got {exc.strerror}") from exc
    except msgspec.DecodeError as exc:
        raise PolicyError(f"{path.name}: not valid TOML: {exc}") from exc
    for extra in sorted(set(raw) - keys):
        raise PolicyError(f"{path.name}: Object contains unknown field `{extra}` - at `$`")
    return raw


def _load_file(path: Path, key: str, schema: type) -> Any:
    raw = read_toml(path, "policy file", {key})
    tp = msgspec.structs.fields(schema)[0].type
    return _convert(raw.get(key, {}), tp, f"$.{key}", path.name)


def load_policy_dir(directory: Path | str) -> PolicyData:
    """Read and validate every policy file in ``directory``; raise `PolicyError` naming file, key, value."""
    directory = Path(directory)
    parts: dict[str, Any] = {}
    for name, (key, schema) in POLICY_FILES.items():
        path = directory / name
        if not path.exists():
            if name in _OPTIONAL:
                continue
            raise PolicyError(f"{name}: missing from the policy directory {directory}")
        parts[key] = _load_file(path, key, schema)
    data = PolicyData(**parts)
    from ._validate import validate  # the cross-checks read this module's types: imported when first loading

    errors = validate(data)
    if errors:
        raise PolicyError(errors[0])
    return data
