"""Field access and transforms shared by every agency's mapping (and by declarative mappings).

Each helper takes the parsed native record (a dict: JSON object, XML element, CSV row or
fixed-width fields) and a dotted path, and raises `FieldError` naming the path and the kind of
failure, so the runtime can dead-letter the record with a reason like
``bad check digit - at `$.forare.personnummer` in polisen.jsonl:3``.
"""

from __future__ import annotations

import datetime as _dt
import re
import types
import typing
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, TypeVar, cast, overload
from zoneinfo import ZoneInfo

from samband.schemas import (
    AnyRecord,
    Envelope,
    Handling,
    InvalidIdentifier,
    OrganisationRef,
    PersonRef,
    Record,
    Region,
    Schema,
    VehicleRef,
    current_date,
    new_envelope_id,
    normalise_orgnr,
    normalise_plate,
    personnummer_form,
    track_cache,
)

__all__ = [
    "STOCKHOLM",
    "FieldError",
    "amount_ore",
    "boolean",
    "choice",
    "date",
    "datetime",
    "envelope",
    "get",
    "integer",
    "items",
    "opt",
    "organisation",
    "party",
    "person",
    "quantity",
    "subjects_of",
    "text",
    "vehicle",
]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_MISSING = object()


class FieldError(ValueError):
    """One field of a native record is missing or has a value the shared schema does not accept."""

    def __init__(self, reason: str, *, field: str, kind: str = "value") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field if field.startswith("$") else f"$.{field}"
        self.kind = kind


_PARTS: dict[str, tuple[str, ...]] = {}


def _lookup(native: Any, path: str) -> Any:
    if type(native) is dict and path in native:  # the common case: a flat key
        return native[path]
    parts = _PARTS.get(path)
    if parts is None:
        parts = _PARTS[path] = tuple(path.split("."))
    value = native
    for depth, part in enumerate(parts):
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            if int(part) >= len(value):
                return _MISSING
            value = value[int(part)]
        elif value is None or (type(value) is str and not value.strip()):
            return _MISSING  # an absent or blank parent: the field is missing, not malformed
        else:
            # A parent of the wrong shape (e.g. `forare` as text where an object is expected) is
            # a malformed record, never "no value": reading it as missing would drop data silently.
            where = ".".join(parts[:depth])
            want = "a list" if part.isdigit() else "an object"
            raise FieldError(f"Expected {want}, got `{type(value).__name__}`", field=where)
    return value


def _blank(value: Any) -> bool:
    return value is _MISSING or value is None or (type(value) is str and (not value or value.isspace()))


def _missing(path: str) -> FieldError:
    return FieldError("Expected a value, got none (missing required field)", field=path, kind="missing-field")


def get(native: Any, path: str) -> Any:
    """The value at ``path``; a missing, null or blank value is a `FieldError` (kind ``missing-field``)."""
    value = _lookup(native, path)
    if _blank(value):
        raise _missing(path)
    return value


def opt(native: Any, path: str) -> Any:
    """The value at ``path`` or None when it is missing, null or blank."""
    value = _lookup(native, path)
    return None if _blank(value) else value


def items(native: Any, path: str) -> list[Any]:
    """The values at ``path`` as a list: one XML child is a dict, several are a list, none is ``[]``."""
    value = opt(native, path)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Convert(Protocol[T_co]):
    """``convert(value, path, ...)``: a plain function, whose code `_field` inspects."""

    __code__: types.CodeType
    __name__: str

    def __call__(self, value: Any, path: str, /, *args: Any, **kwargs: Any) -> T_co: ...


class _Transform(Protocol[T_co]):
    """``fn(native, path, ..., optional=False)``: the converted value, or None when ``optional`` and blank."""

    @overload
    def __call__(
        self, native: Any, path: str, /, *args: Any, optional: Literal[False] = False, **kwargs: Any
    ) -> T_co: ...
    @overload
    def __call__(self, native: Any, path: str, /, *args: Any, optional: bool, **kwargs: Any) -> T_co | None: ...


def _field(convert: _Convert[T]) -> _Transform[T]:
    """Make ``convert(value, path, ...)`` a transform ``fn(native, path, ..., optional=False)``.

    The value is looked up once; a blank one is a `FieldError` (``missing-field``), or None when ``optional``.
    """
    code = convert.__code__
    if code.co_argcount == 2 and not code.co_kwonlyargcount and not code.co_flags & 0x0C:
        # the common shape, convert(value, path): no *args/**kwargs to pack on every record
        def transform(native: Any, path: str, *, optional: bool = False) -> T | None:
            value = native.get(path, _MISSING) if type(native) is dict else _MISSING
            if value is _MISSING:
                value = _lookup(native, path)
            if value is None or value is _MISSING or (type(value) is str and (not value or value.isspace())):
                if optional:
                    return None
                raise _missing(path)
            return convert(value, path)

        fn: Any = transform  # Any: a function with a `convert` attribute, which no function type can say
    else:

        def transform_args(native: Any, path: str, *args: Any, optional: bool = False, **kwargs: Any) -> T | None:
            value = _lookup(native, path)
            if _blank(value):
                if optional:
                    return None
                raise _missing(path)
            return convert(value, path, *args, **kwargs)

        fn = transform_args
    fn.__name__, fn.__doc__ = convert.__name__, convert.__doc__
    fn.convert = convert
    # either function is a Transform[T]: None only when ``optional`` is true
    return cast("_Transform[T]", fn)


def _text(value: Any, path: str) -> str:
    if type(value) is not str:  # a number or an object where the export promises text is malformed
        raise FieldError(f"Expected text, got `{type(value).__name__}`", field=path)
    return value.strip()


@overload
def text(native: Any, path: str, *, optional: Literal[False] = False) -> str: ...
@overload
def text(native: Any, path: str, *, optional: bool) -> str | None: ...
def text(native: Any, path: str, *, optional: bool = False) -> str | None:
    """Text, stripped. (The most used transform, so `_field`'s steps are written out here.)"""
    value = native.get(path, _MISSING) if type(native) is dict else _MISSING
    if value is _MISSING:
        value = _lookup(native, path)
    if type(value) is str:
        value = value.strip()
        if value:
            return value
    elif value is not None and value is not _MISSING:
        return _text(value, path)
    if optional:
        return None
    raise _missing(path)


text.convert = _text  # type: ignore[attr-defined]


@_field
def integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise FieldError("Expected an integer, got `bool`", field=path)
    if isinstance(value, int):
        return value
    s = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"[-+]?\d+", s):
        raise FieldError(f"Expected an integer, got {str(value)[:40]!r}", field=path)
    return int(s)


def _decimal(value: Any, path: str) -> Decimal:
    """Swedish amounts: ``1 234,50`` or ``1234,5`` (decimal comma), also ``1234.50``."""
    if isinstance(value, bool):
        raise FieldError("Expected a number, got `bool`", field=path)
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    s = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if "," in s:
        s = s.replace(".", "").replace(",", ".")
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise FieldError(f"Expected a number like 1 234,50, got {str(value)[:40]!r}", field=path) from None
    if not d.is_finite():
        raise FieldError(f"Expected a finite number, got {str(value)[:40]!r}", field=path)
    return d


@_field
def quantity(value: Any, path: str) -> float:
    """A measured quantity (litres, kilograms) with a decimal comma or point."""
    return float(_decimal(value, path))


@_field
def amount_ore(value: Any, path: str, *, unit: str = "kr") -> int:
    """Money as integer öre; the native amount is in kronor (``unit="kr"``) or already in öre (``"ore"``)."""
    d = _decimal(value, path)
    if unit == "ore":
        if d != d.to_integral_value():
            raise FieldError(f"Expected a whole number of öre, got {d}", field=path)
        return int(d)
    if d.as_tuple().exponent < -2:  # type: ignore[operator]
        raise FieldError(f"Expected an amount in kronor with at most 2 decimals, got {d}", field=path)
    return int(d * 100)


_BOOL = {
    "j": True,
    "ja": True,
    "y": True,
    "yes": True,
    "true": True,
    "1": True,
    "n": False,
    "nej": False,
    "no": False,
    "false": False,
    "0": False,
}


@_field
def boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    b = _BOOL.get(str(value).strip().lower())
    if b is None:
        raise FieldError(f"Expected J/N, ja/nej or true/false, got {str(value)[:20]!r}", field=path)
    return b


_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _shaped_like(value: str, fmt: str) -> bool:
    """Digits where the format has digits: then a failure means an impossible date (2017-02-30, month 13),
    not a typo."""
    example = _dt.datetime(2017, 1, 1, 0, 0, 0).strftime(fmt)
    return re.sub(r"\d", "9", value) == re.sub(r"\d", "9", example)


@_field
def date(value: Any, path: str, fmt: str = "%Y-%m-%d") -> _dt.date:
    """A calendar date in ``fmt``; 2017-02-30 is an impossible date (kind ``date``)."""
    s = str(value).strip()
    try:
        if fmt == "%Y-%m-%d" and len(s) == 10:
            return _dt.date.fromisoformat(s)
        return _dt.datetime.strptime(s, fmt).date()
    except ValueError:
        problem = "no such date" if _shaped_like(s, fmt) else f"not in the form {fmt}"
        raise FieldError(f"Expected a date ({fmt}), got {s[:40]!r}: {problem}", field=path, kind="date") from None


@_field
def datetime(value: Any, path: str, fmt: str | None = None, *, tz: _dt.tzinfo = STOCKHOLM) -> _dt.datetime:
    """A point in time: ISO 8601 by default, or ``fmt``; a time without offset is Swedish local time."""
    s = str(value).strip()
    try:
        parsed = _dt.datetime.fromisoformat(s) if fmt is None else _dt.datetime.strptime(s, fmt)
    except ValueError:
        shaped = _shaped_like(s, fmt) if fmt else bool(_ISO_SHAPE.match(s))
        problem = "no such date or time" if shaped else f"not in the form {fmt or 'ISO 8601'}"
        raise FieldError(
            f"Expected a date and time ({fmt or 'ISO 8601'}), got {s[:40]!r}: {problem}", field=path, kind="date"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _identifier(fn, ref, attr: str, value: Any, path: str):
    try:
        return ref(**{attr: fn(str(value))})
    except InvalidIdentifier as exc:
        raise FieldError(str(exc), field=path, kind="identifier") from None


class _Refs(dict):
    """Validated references by the native text they came from: the same persons, companies and
    vehicles recur through an export, and a hit skips normalising and validating again. Bounded;
    only values that passed are kept. Process-wide state (`samband.schemas.track_cache`): persons
    are dropped when the date changes (the century of a 10-digit personnummer depends on it)."""

    def remember(self, key: Any, ref: Any) -> Any:
        if len(self) >= 1 << 16:
            self.clear()
        self[key] = ref
        return ref


_PERSONS, _ORGANISATIONS, _VEHICLES = _Refs(), _Refs(), _Refs()
track_cache(_PERSONS.clear, daily=True)
track_cache(_ORGANISATIONS.clear)
track_cache(_VEHICLES.clear)


@_field
def person(value: Any, path: str) -> PersonRef:
    """A personnummer or samordningsnummer (10 or 12 digits, with or without ``-``): check digit and date checked."""
    if type(value) is not str:
        return _identifier(personnummer_form, PersonRef, "pnr", value, path)
    current_date()  # a new date empties the persons first
    ref = _PERSONS.get(value)
    if ref is None:
        try:
            ref = PersonRef(pnr=personnummer_form(value))  # the schema's parser; PersonRef validates
        except InvalidIdentifier as exc:
            raise FieldError(str(exc), field=path, kind="identifier") from None
        _PERSONS.remember(value, ref)
    return ref


@_field
def organisation(value: Any, path: str) -> OrganisationRef:
    ref = _ORGANISATIONS.get(value) if type(value) is str else None
    if ref is None:
        ref = _identifier(normalise_orgnr, OrganisationRef, "orgnr", value, path)
        if type(value) is str:
            _ORGANISATIONS.remember(value, ref)
    return ref


@_field
def party(value: Any, path: str) -> PersonRef | OrganisationRef:
    """A person or a company: organisationsnummer have 2 or more as their third digit (a month never does)."""
    digits = re.sub(r"\D", "", str(value))
    if len(digits) == 12 and digits.startswith("16"):
        digits = digits[2:]
    if len(digits) == 10 and int(digits[2]) >= 2:
        return _identifier(normalise_orgnr, OrganisationRef, "orgnr", value, path)
    return _identifier(personnummer_form, PersonRef, "pnr", value, path)


@_field
def vehicle(value: Any, path: str) -> VehicleRef:
    if type(value) is not str:
        return _identifier(normalise_plate, VehicleRef, "plate", value, path)
    ref = _VEHICLES.get(value)
    if ref is None:
        try:
            ref = VehicleRef(plate=value)  # exports mostly write the canonical form: then one check, not two
        except InvalidIdentifier:
            try:
                ref = VehicleRef(plate=normalise_plate(value))
            except InvalidIdentifier as exc:
                raise FieldError(str(exc), field=path, kind="identifier") from None
        _VEHICLES.remember(value, ref)
    return ref


@_field
def choice(value: Any, path: str, options: dict[str, Any]) -> Any:
    """A coded value translated through ``options`` (native code -> shared value)."""
    code = str(value).strip()
    if code not in options:
        raise FieldError(f"Expected one of {tuple(options)}, got {code[:40]!r}", field=path)
    return options[code]


_REF_FIELDS: dict[type, tuple[str, ...]] = {}


def _ref_fields(cls: type) -> tuple[str, ...]:
    """The fields of a record type that can hold a person, organisation or vehicle, directly or in a
    struct of their own (a vehicle control's identified passengers); computed once per type."""
    names = _REF_FIELDS.get(cls)
    if names is None:
        names = _REF_FIELDS[cls] = tuple(
            n
            for n, tp in typing.get_type_hints(cls).items()
            if n in cls.__struct_fields__ and _names_refs(tp)  # type: ignore[attr-defined]
        )
    return names


def _names_refs(tp: Any) -> bool:
    if isinstance(tp, type):
        if issubclass(tp, _REF_TYPES):
            return True
        return issubclass(tp, Schema) and any(_names_refs(t) for t in typing.get_type_hints(tp).values())
    return any(_names_refs(a) for a in typing.get_args(tp) if a is not Ellipsis)


def _collect(value: Any, out: list) -> None:
    if isinstance(value, _REF_TYPES):
        if value not in out:
            out.append(value)
    elif type(value) is tuple:
        for item in value:
            _collect(item, out)
    elif value is not None and hasattr(value, "__struct_fields__"):
        for name in _ref_fields(type(value)):
            _collect(getattr(value, name), out)


def subjects_of(record: Record) -> tuple[PersonRef | OrganisationRef | VehicleRef, ...]:
    """Every person, organisation and vehicle a record refers to, in field order, without repeats."""
    out: list = []
    for name in _ref_fields(type(record)):
        _collect(getattr(record, name), out)
    return tuple(out)


_REF_TYPES = (PersonRef, OrganisationRef, VehicleRef)
_UTC = _dt.UTC


def envelope(
    record: AnyRecord,
    *,
    region: str,
    operation: str,
    handling: Handling | None = None,
    legal_basis: str | None = "LUS 2016:774",
    extra_subjects: Iterable[PersonRef | OrganisationRef | VehicleRef] = (),
    region_field: str = "$.region",
) -> Envelope:
    """The envelope around ``record``; its subjects are the record's references."""
    subjects = subjects_of(record)
    if extra_subjects:
        subjects += tuple(extra_subjects)
    # the native text is not yet a Region: Envelope checks it (ValueError, turned into a FieldError below)
    region_ = cast(Region, region)
    try:
        if handling is None:
            return Envelope(
                id=new_envelope_id(),
                record=record,
                region=region_,
                operation=operation,
                produced_at=_dt.datetime.now(_UTC),
                subjects=subjects,
                legal_basis=legal_basis,
            )
        return Envelope(
            id=new_envelope_id(),
            record=record,
            region=region_,
            operation=operation,
            produced_at=_dt.datetime.now(_UTC),
            subjects=subjects,
            legal_basis=legal_basis,
            handling=handling,
        )
    except ValueError as exc:
        raise FieldError(str(exc), field=region_field if "region" in str(exc) else "$", kind="value") from None
