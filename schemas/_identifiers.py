"""Swedish identifiers: validation, normalisation, masking and synthetic generators.

Personnummer and samordningsnummer are normalised to 12 digits ``YYYYMMDDNNNC``; a
samordningsnummer has 60 added to the day. The check digit is Luhn over the 10-digit
form. In the 10-digit form the separator carries the century: ``-`` for someone who turns
at most 99 this year, ``+`` from the year they turn 100 (Skatteverket's rule, by calendar
year, not by birthday). Messages and reprs never show more than the birth year and month
of a personnummer, the first four digits of an organisationsnummer or the first letter of
a plate.
"""

from __future__ import annotations

import datetime as _dt
import random
import re

from ._errors import InvalidIdentifier
from ._state import current_date

__all__ = [
    "ORGNR_PATTERN",
    "PLATE_PATTERN",
    "PNR_PATTERN",
    "PNR_SHAPE",
    "is_samordningsnummer",
    "luhn_digit",
    "mask_orgnr",
    "mask_personnummer",
    "mask_plate",
    "normalise_orgnr",
    "normalise_personnummer",
    "normalise_plate",
    "personnummer_form",
    "synthetic_orgnr",
    "synthetic_personnummer",
    "synthetic_plate",
]

# Anything shaped like a personnummer/samordningsnummer in free text (used by the log
# scrubber as a last line of defence): 6 or 8 digits, optional -/+ separator, 4 digits.
PNR_SHAPE = re.compile(r"(?<![0-9])(?:[0-9]{2})?[0-9]{6}[-+]?[0-9]{4}(?![0-9])")

# The canonical forms on the wire (also the JSON Schema patterns of the reference types), as far
# as a pattern can say what the decoder checks: a personnummer's month, and its day (a
# samordningsnummer adds 60); an organisationsnummer's third digit, 2 or more (below 2 it is a
# person's number). A real date, a birth not in the future and the check digit are the decoder's.
PNR_PATTERN = "^[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01]|6[1-9]|[78][0-9]|9[01])[0-9]{4}$"
ORGNR_PATTERN = "^[0-9]{2}[2-9][0-9]{3}-[0-9]{4}$"
# Three letters (no I, Q, V, Å, Ä, Ö), two digits, then a digit or a letter other than O
# (Transportstyrelsen keeps O off the last place so it cannot be read as a zero).
PLATE_PATTERN = "^[A-HJ-PR-UW-Z]{3}[0-9]{2}[0-9A-HJ-NPR-UW-Z]$"

# [0-9], not \d: \d also matches other scripts' digits, which int() would happily accept.
_PNR_INPUT = re.compile(r"^([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})$")
_ORGNR = re.compile(r"^(16)?([0-9]{6})-?([0-9]{4})$")
_PLATE = re.compile(r"^([A-HJ-PR-UW-Z]{3}) ?([0-9]{2}[0-9A-HJ-NPR-UW-Z])$")

# Luhn: the doubled digit's digit sum, by digit.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
# Every decode checks a check digit, so the 9-digit case sums three precomputed
# 3-digit chunks (weights 2,1,2 / 1,2,1 / 2,1,2) instead of looping over digits.
_W212 = {f"{n:03d}": _DOUBLED[n // 100] + n // 10 % 10 + _DOUBLED[n % 10] for n in range(1000)}
_W121 = {f"{n:03d}": n // 100 + _DOUBLED[n // 10 % 10] + n % 10 for n in range(1000)}


def luhn_digit(digits: str) -> int:
    """The Luhn check digit for ``digits`` (weights 2,1,2,1,... from the left, as Skatteverket uses)."""
    if len(digits) == 9 and digits.isascii() and digits.isdigit():
        total = _W212[digits[:3]] + _W121[digits[3:6]] + _W212[digits[6:]]
    else:
        total = 0
        for i, ch in enumerate(digits):
            total += _DOUBLED[int(ch)] if i % 2 == 0 else int(ch)
    return (10 - total % 10) % 10


def mask_personnummer(value: str) -> str:
    """``19850312-1234`` -> ``198503**-****``: enough to tell records apart in an error, not to identify."""
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) >= 10:
        head = digits[:6] if len(digits) >= 12 else digits[:4]
        return f"{head}**-****"
    return "****"


def mask_orgnr(value: str) -> str:
    """``556677-8899`` -> ``5566**-****``: a sole trader's number is a personnummer, so it gets the same care."""
    digits = re.sub(r"[^0-9]", "", value) if isinstance(value, str) else ""
    return f"{digits[:4]}**-****" if len(digits) >= 10 else "****"


def mask_plate(value: str) -> str:
    """``ABC123`` -> ``A*****``: a plate leads to its owner."""
    text = re.sub(r"\s", "", value) if isinstance(value, str) else ""
    return (text[:1] + "*" * (len(text) - 1)) if len(text) > 1 else "*"


def _shape_error(kind: str, expected: str, value: object, masked: str) -> InvalidIdentifier:
    if not isinstance(value, str):
        return InvalidIdentifier(f"Expected {kind} as `str`, got `{type(value).__name__}`")
    return InvalidIdentifier(f"Expected {kind} {expected}, got {masked} of {len(value)} characters")


def _century(yy: int, sep: str, today: _dt.date) -> int:
    """The birth year of a 10-digit number: the latest year ending in ``yy`` not after this one, minus 100 for ``+``."""
    year = (today.year // 100) * 100 + yy
    if year > today.year:
        year -= 100
    return year - 100 if sep == "+" else year


def personnummer_form(value: str, *, today: _dt.date | None = None) -> str:
    """The 12-digit form ``YYYYMMDDNNNC`` of a personnummer or samordningsnummer as written, its century
    worked out (see the module docstring); only its shape is checked (`InvalidIdentifier`, masked).

    The one parser of a personnummer's text: `normalise_personnummer` checks the date and the check
    digit of this form, and so does `PersonRef` when it is built (adapters hand it this form, so a
    personnummer is validated once, not twice).
    """
    m = _PNR_INPUT.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise _shape_error(
            "personnummer",
            "of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC)",
            value,
            mask_personnummer(value) if isinstance(value, str) else "",
        )
    century, yymmdd, sep, tail = m.groups()
    if century is None:
        return f"{_century(int(yymmdd[:2]), sep, today or current_date()):04d}{yymmdd[2:]}{tail}"
    if sep == "+":
        masked = mask_personnummer(century + yymmdd + tail)
        raise InvalidIdentifier(f"Invalid personnummer {masked}: `+` belongs to the 10-digit form only")
    return century + yymmdd + tail


def normalise_personnummer(value: str, *, today: _dt.date | None = None) -> str:
    """Validate a personnummer or samordningsnummer and return its 12-digit form.

    Accepts 10 or 12 digits, with or without ``-``; ``+`` in a 10-digit form marks a
    person who turns 100 or more this year (the 12-digit form carries its century and
    takes no ``+``). Raises `InvalidIdentifier` with a masked value.
    """
    today = today or current_date()
    form = personnummer_form(value, today=today)
    masked = mask_personnummer(form)
    day = int(form[6:8])
    real_day = day - 60 if day > 60 else day  # a samordningsnummer adds 60 to the day
    try:
        born = _dt.date(int(form[:4]), int(form[4:6]), real_day)
    except ValueError:
        raise InvalidIdentifier(f"Invalid personnummer {masked}: no such date") from None
    if born > today:
        raise InvalidIdentifier(f"Invalid personnummer {masked}: date of birth in the future")
    if luhn_digit(form[2:11]) != int(form[11]):
        raise InvalidIdentifier(f"Invalid personnummer {masked}: bad check digit")
    return form


def is_samordningsnummer(normalised: str) -> bool:
    return int(normalised[6:8]) > 60


def normalise_orgnr(value: str) -> str:
    """Validate an organisationsnummer (NNNNNN-NNNN, Luhn; third digit >= 2) and return ``NNNNNN-NNNN``.

    A sole trader's number is their personnummer (third digit 0 or 1): such a trader is a
    `PersonRef`, not an `OrganisationRef`, and is refused here.
    """
    m = _ORGNR.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise _shape_error("organisationsnummer", "NNNNNN-NNNN", value, mask_orgnr(value))
    ten = m.group(2) + m.group(3)
    masked = mask_orgnr(ten)
    if int(ten[2]) < 2:
        raise InvalidIdentifier(
            f"Invalid organisationsnummer {masked}: third digit must be 2 or more (a personnummer is a person)"
        )
    if luhn_digit(ten[:9]) != int(ten[9]):
        raise InvalidIdentifier(f"Invalid organisationsnummer {masked}: bad check digit")
    return f"{ten[:6]}-{ten[6:]}"


def normalise_plate(value: str) -> str:
    """Validate a Swedish registration plate and return it as ``ABC123`` / ``ABC12D``.

    Personalised plates (2-7 free characters) and diplomatic plates are not accepted.
    """
    m = _PLATE.match(value.strip().upper()) if isinstance(value, str) else None
    if not m:
        raise _shape_error("registration plate", "like ABC123 or ABC12D", value, mask_plate(value))
    return m.group(1) + m.group(2)


def synthetic_personnummer(rng: random.Random, *, samordning: bool = False) -> str:
    """A synthetic, checksum-valid 12-digit personnummer (or samordningsnummer) for tests and demos."""
    start = _dt.date(1940, 1, 1).toordinal()
    born = _dt.date.fromordinal(rng.randrange(start, _dt.date(2005, 12, 31).toordinal()))
    day = born.day + (60 if samordning else 0)
    # serial 000 is never issued (Skatteverket's birth numbers run 001-999)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{rng.randrange(1, 1000):03d}"
    return f"{born.year // 100:02d}{nine}{luhn_digit(nine)}"


def synthetic_orgnr(rng: random.Random) -> str:
    nine = f"55{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"
    return f"{nine[:6]}-{nine[6:]}{luhn_digit(nine)}"


_PLATE_LETTERS = "ABCDEFGHJKLMNOPRSTUWXYZ"
_PLATE_LAST = "0123456789ABCDEFGHJKLMNPRSTUWXYZ"  # no O in the last place


def synthetic_plate(rng: random.Random) -> str:
    letters = "".join(rng.choice(_PLATE_LETTERS) for _ in range(3))
    return f"{letters}{rng.randrange(100):02d}{rng.choice(_PLATE_LAST)}"
