"""The envelope around a mapped record, and the subjects it names: every person, organisation and
vehicle the record refers to, found by the record type's fields."""

from __future__ import annotations

import datetime as _dt
import typing
from collections.abc import Iterable
from typing import Any, cast

import msgspec

from samband.schemas import (
    AnyRecord,
    Envelope,
    Handling,
    OrganisationRef,
    PersonRef,
    Record,
    Region,
    Schema,
    VehicleRef,
    new_envelope_id,
)

from ._fields import FieldError

__all__ = ["envelope", "subjects_of"]


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
# the envelope's own default, the very object: with it an envelope is what it is without `handling`
_NO_HANDLING = next(f.default for f in msgspec.structs.fields(Envelope) if f.name == "handling")


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
        return Envelope(
            id=new_envelope_id(),
            record=record,
            region=region_,
            operation=operation,
            produced_at=_dt.datetime.now(_UTC),
            subjects=subjects,
            legal_basis=legal_basis,
            handling=_NO_HANDLING if handling is None else handling,
        )
    except ValueError as exc:
        raise FieldError(str(exc), field=region_field if "region" in str(exc) else "$", kind="value") from None
