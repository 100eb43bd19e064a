"""Swedish identifiers: validation, normalisation, masking and synthetic generators.

Personnummer and samordningsnummer are normalised to 12 digits ``YYYYMMDDNNNC``; a
samordningsnummer has 60 added to the day. The check digit is Luhn over the 10-digit
form. Messages and reprs never show more than the birth year and month.
"""

from __future__ import annotations

import datetime as _dt
import random
import re

from ._errors import InvalidIdentifier

__all__ = [
    "luhn_digit",
    "normalise_personnummer",
    "is_samordningsnummer",
    "mask_personnummer",
    "normalise_orgnr",
    "normalise_plate",
    "synthetic_personnummer",
    "synthetic_orgnr",
    "synthetic_plate",
    "PNR_SHAPE",
]

# Anything shaped like a personnummer/samordningsnummer in free text (used by the log
# scrubber as a last line of defence): 6 or 8 digits, optional -/+ separator, 4 digits.
PNR_SHAPE = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)")

_PNR_INPUT = re.compile(r"^(\d{2})?(\d{6})([-+]?)(\d{4})$")


def luhn_digit(digits: str) -> int:
    """The Luhn check digit for ``digits`` (weights 2,1,2,1,... from the left, as Skatteverket uses)."""
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def mask_personnummer(value: str) -> str:
    """``19850312-1234`` -> ``198503**-****``: enough to tell records apart in an error, not to identify."""
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 10:
        head = digits[:6] if len(digits) >= 12 else digits[:4]
        return f"{head}**-****"
    return "****"


def normalise_personnummer(value: str, *, today: _dt.date | None = None) -> str:
    """Validate a personnummer or samordningsnummer and return its 12-digit form.

    Accepts 10 or 12 digits, with or without ``-``; ``+`` in a 10-digit form marks a
    person aged 100 or more. Raises `InvalidIdentifier` with a masked value.
    """
    if not isinstance(value, str):
        raise InvalidIdentifier(f"Expected personnummer as `str`, got `{type(value).__name__}`")
    m = _PNR_INPUT.match(value.strip())
    if not m:
        raise InvalidIdentifier(
            f"Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), got {mask_personnummer(value)!s} of {len(value)} characters"
        )
    century, yymmdd, sep, tail = m.groups()
    today = today or _dt.date.today()
    if century is None:
        yy = int(yymmdd[:2])
        year = (today.year // 100) * 100 + yy
        if year > today.year:
            year -= 100
        if sep == "+":
            year -= 100
    else:
        year = int(century + yymmdd[:2])
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    real_day = day - 60 if day > 60 else day
    masked = mask_personnummer(f"{year:04d}{yymmdd[2:]}{tail}")
    try:
        _dt.date(year, month, real_day)
    except ValueError:
        raise InvalidIdentifier(f"Invalid personnummer {masked}: no such date") from None
    ten = yymmdd + tail
    if luhn_digit(ten[:9]) != int(ten[9]):
        raise InvalidIdentifier(f"Invalid personnummer {masked}: bad check digit")
    return f"{year:04d}{yymmdd[2:]}{tail}"


def is_samordningsnummer(normalised: str) -> bool:
    return int(normalised[6:8]) > 60


_ORGNR = re.compile(r"^(16)?(\d{6})-?(\d{4})$")


def normalise_orgnr(value: str) -> str:
    """Validate an organisationsnummer (NNNNNN-NNNN, Luhn; third digit >= 2) and return ``NNNNNN-NNNN``."""
    m = _ORGNR.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise InvalidIdentifier(f"Expected organisationsnummer NNNNNN-NNNN, got {value!r}")
    ten = m.group(2) + m.group(3)
    if int(ten[2]) < 2:
        raise InvalidIdentifier(f"Invalid organisationsnummer {value!r}: third digit must be 2 or more")
    if luhn_digit(ten[:9]) != int(ten[9]):
        raise InvalidIdentifier(f"Invalid organisationsnummer {value!r}: bad check digit")
    return f"{ten[:6]}-{ten[6:]}"


# Swedish plates: three letters (no I, Q, V, Å, Ä, Ö) then two digits and a digit or letter.
_PLATE = re.compile(r"^([A-HJ-PR-UW-Z]{3}) ?(\d{2}[0-9A-HJ-PR-UW-Z])$")


def normalise_plate(value: str) -> str:
    """Validate a Swedish registration plate and return it as ``ABC123`` / ``ABC12D``."""
    m = _PLATE.match(value.strip().upper()) if isinstance(value, str) else None
    if not m:
        raise InvalidIdentifier(f"Expected registration plate like ABC123 or ABC12D, got {value!r}")
    return m.group(1) + m.group(2)


def synthetic_personnummer(rng: random.Random, *, samordning: bool = False) -> str:
    """A synthetic, checksum-valid 12-digit personnummer (or samordningsnummer) for tests and demos."""
    start = _dt.date(1940, 1, 1).toordinal()
    born = _dt.date.fromordinal(rng.randrange(start, _dt.date(2005, 12, 31).toordinal()))
    day = born.day + (60 if samordning else 0)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{rng.randrange(1000):03d}"
    return f"{born.year // 100:02d}{nine}{luhn_digit(nine)}"


def synthetic_orgnr(rng: random.Random) -> str:
    nine = f"55{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"
    return f"{nine[:6]}-{nine[6:]}{luhn_digit(nine)}"


_PLATE_LETTERS = "ABCDEFGHJKLMNOPRSTUWXYZ"


def synthetic_plate(rng: random.Random) -> str:
    letters = "".join(rng.choice(_PLATE_LETTERS) for _ in range(3))
    return f"{letters}{rng.randrange(100):02d}{rng.choice('0123456789' + _PLATE_LETTERS)}"
