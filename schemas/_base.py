"""Base classes and shared value types of the bus's schemas."""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, ClassVar, Literal

import msgspec

from ._errors import InvalidIdentifier
from ._identifiers import (
    ORGNR_PATTERN,
    PLATE_PATTERN,
    PNR_PATTERN,
    luhn_digit,
    mask_orgnr,
    mask_personnummer,
    mask_plate,
    normalise_orgnr,
    normalise_personnummer,
    normalise_plate,
)
from ._state import SEEN_ORGNR, SEEN_PLATE, SEEN_PNR, today_text

__all__ = [
    "REGIONS",
    "Instant",
    "OrganisationRef",
    "PersonRef",
    "Record",
    "Region",
    "Schema",
    "SubjectRef",
    "VehicleRef",
]

Region = Literal["nord", "mitt", "bergslagen", "stockholm", "ost", "vast", "syd", "national"]
REGIONS: tuple[Region, ...] = ("nord", "mitt", "bergslagen", "stockholm", "ost", "vast", "syd", "national")


class Schema(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Every struct on the bus: immutable, strict, compact on the wire."""


class Record(Schema, frozen=True, tag_field="type"):
    """A record type in the envelope's tagged union.

    ``VERSION`` is ``(major, minor)``. A minor bump only adds optional fields (with a
    default); readers of an older minor still decode it with the tolerant reader
    (`ENVELOPE_READER`). A breaking change (a field removed, retyped, made required or
    optional, a default changed, a value taken away) is a new major: a new class whose tag
    ends in ``.v<major>`` beside the old one, so both can travel while senders move over,
    and policy must name the new type before anyone receives it. See docs/schemas.md.
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 0)


def in_order(record: Record, first: str, last: str, *, strictly: bool = False) -> None:
    """A period's end is not before its start (for a grant, strictly after): a reversed period would match nothing."""
    start, end = getattr(record, first), getattr(record, last)
    if end is None:
        return
    try:
        reversed_ = end <= start if strictly else end < start
    except TypeError:  # one with a time zone, one without
        raise ValueError(f"Expected `{first}` and `{last}` both with a time zone or both without") from None
    if reversed_:
        rel = "after" if strictly else "on or after"
        raise ValueError(f"Expected `{last}` {rel} `{first}` ({start.isoformat()}), got {end.isoformat()}")


def _fast_pnr(value: str) -> bool:
    """The canonical 12-digit form with a real date (day + 60 allowed) and a good check digit.

    The common case of every decode; `normalise_personnummer` (slower, exact messages)
    runs only when this says no.
    """
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    year = int(value[:4])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not year or value[4:8] not in (_MMDD_LEAP if leap else _MMDD):  # a set lookup, not a date
        return False
    born = value[:8] if value[6] < "6" else f"{value[:6]}{int(value[6:8]) - 60:02d}"
    return born <= today_text() and luhn_digit(value[2:11]) == ord(value[11]) - 48


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# month and day of every real date, and of every samordningsnummer (day + 60)
_MMDD = frozenset(
    f"{m:02d}{d + plus:02d}" for m in range(1, 13) for d in range(1, _DAYS[m - 1] + 1) for plus in (0, 60)
)
_MMDD_LEAP = _MMDD | {"0229", "0289"}


def _non_canonical(kind: str, masked: str, canonical: str) -> InvalidIdentifier:
    # Adapters normalise before they build records; the wire carries the canonical form only.
    return InvalidIdentifier(f"Expected {kind} in canonical form {canonical}, got {masked}")


# The patterns go into the published JSON Schema only: msgspec checks a `pattern` with a
# Python regex call per value (a third of an envelope's decode); `__post_init__` checks the
# same shape, and more, at a set lookup for identifiers seen before.
Personnummer = Annotated[
    str,
    msgspec.Meta(
        extra_json_schema={"pattern": PNR_PATTERN},
        description="Personnummer or samordningsnummer, 12 digits YYYYMMDDNNNC",
    ),
]
# A point in time on the bus carries its offset: a time without one means something else in each
# agency (and legal time is Swedish time). JSON Schema: `format: date-time` (RFC 3339).
Instant = Annotated[_dt.datetime, msgspec.Meta(tz=True)]
Organisationsnummer = Annotated[
    str, msgspec.Meta(extra_json_schema={"pattern": ORGNR_PATTERN}, description="Organisationsnummer NNNNNN-NNNN")
]
Plate = Annotated[
    str,
    msgspec.Meta(
        extra_json_schema={"pattern": PLATE_PATTERN}, description="Swedish registration plate ABC123 or ABC12D"
    ),
]


class PersonRef(Schema, tag="person", frozen=True, kw_only=True):
    """A person referenced by a record: canonical 12-digit personnummer or samordningsnummer."""

    pnr: Personnummer

    def __post_init__(self) -> None:
        if self.pnr in SEEN_PNR.values:
            return
        if (
            not _fast_pnr(self.pnr) and normalise_personnummer(self.pnr) != self.pnr
        ):  # raises with the exact reason when invalid
            raise _non_canonical("personnummer", mask_personnummer(self.pnr), "YYYYMMDDNNNC")
        SEEN_PNR.add(self.pnr)

    def __repr__(self) -> str:
        return f"PersonRef(pnr={mask_personnummer(self.pnr)!r})"

    __str__ = __repr__


class OrganisationRef(Schema, tag="organisation", frozen=True, kw_only=True):
    """An organisation (a legal person) referenced by a record; a sole trader is a `PersonRef`."""

    orgnr: Organisationsnummer

    def __post_init__(self) -> None:
        if self.orgnr in SEEN_ORGNR.values:
            return
        if normalise_orgnr(self.orgnr) != self.orgnr:
            raise _non_canonical("organisationsnummer", mask_orgnr(self.orgnr), "NNNNNN-NNNN")
        SEEN_ORGNR.add(self.orgnr)

    def __repr__(self) -> str:
        return f"OrganisationRef(orgnr={mask_orgnr(self.orgnr)!r})"

    __str__ = __repr__


class VehicleRef(Schema, tag="vehicle", frozen=True, kw_only=True):
    """A vehicle referenced by a record, by its registration plate."""

    plate: Plate

    def __post_init__(self) -> None:
        if self.plate in SEEN_PLATE.values:
            return
        if normalise_plate(self.plate) != self.plate:
            raise _non_canonical("registration plate", mask_plate(self.plate), "ABC123")
        SEEN_PLATE.add(self.plate)

    def __repr__(self) -> str:
        return f"VehicleRef(plate={mask_plate(self.plate)!r})"

    __str__ = __repr__


SubjectRef = PersonRef | OrganisationRef | VehicleRef
