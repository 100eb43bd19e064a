"""Base classes and shared value types of the bus's schemas."""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from ._identifiers import mask_personnummer, normalise_orgnr, normalise_personnummer, normalise_plate

__all__ = [
    "Schema",
    "Record",
    "Region",
    "REGIONS",
    "PersonRef",
    "OrganisationRef",
    "VehicleRef",
    "SubjectRef",
]

Region = Literal["nord", "mitt", "bergslagen", "stockholm", "ost", "vast", "syd", "national"]
REGIONS: tuple[str, ...] = ("nord", "mitt", "bergslagen", "stockholm", "ost", "vast", "syd", "national")


class Schema(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Every struct on the bus: immutable, strict, compact on the wire."""


class Record(Schema, tag_field="type"):
    """A record type in the envelope's tagged union.

    ``VERSION`` is ``(major, minor)``: a minor bump adds optional fields that old readers
    still decode; a major bump (removing or retyping a field) makes a new tag.
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 0)


def _check(fn, value: str, field: str) -> str:
    norm = fn(value)
    if norm != value:
        # Schemas hold the canonical form only; adapters normalise before they build records.
        raise ValueError(f"Expected canonical {field} {fn.__name__.removeprefix('normalise_')}, got a non-canonical form")
    return norm


class PersonRef(Schema, tag="person", kw_only=True):
    """A person referenced by a record: canonical 12-digit personnummer or samordningsnummer."""

    pnr: str

    def __post_init__(self) -> None:
        _check(normalise_personnummer, self.pnr, "pnr")

    def __repr__(self) -> str:
        return f"PersonRef(pnr={mask_personnummer(self.pnr)!r})"

    __str__ = __repr__


class OrganisationRef(Schema, tag="organisation", kw_only=True):
    orgnr: str

    def __post_init__(self) -> None:
        _check(normalise_orgnr, self.orgnr, "orgnr")


class VehicleRef(Schema, tag="vehicle", kw_only=True):
    plate: str

    def __post_init__(self) -> None:
        _check(normalise_plate, self.plate, "plate")


SubjectRef = PersonRef | OrganisationRef | VehicleRef
