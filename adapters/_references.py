"""Transforms of identifiers: a person, an organisation, either (a party) or a vehicle, parsed by
the schema (`samband.schemas`: the one parser) and validated by the reference type, with the
references read before kept by their native text."""

from __future__ import annotations

import re
from typing import Any

from samband.schemas import (
    InvalidIdentifier,
    OrganisationRef,
    PersonRef,
    VehicleRef,
    current_date,
    normalise_orgnr,
    normalise_plate,
    personnummer_form,
    track_cache,
)

from ._fields import FieldError, _field

__all__ = ["organisation", "party", "person", "vehicle"]


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
