"""Field access and transforms shared by every agency's mapping (and by declarative mappings).

Each helper takes the parsed native record (a dict: JSON object, XML element, CSV row or
fixed-width fields) and a dotted path, and raises `FieldError` naming the path and the kind of
failure, so the runtime can dead-letter the record with a reason like
``bad check digit - at `$.forare.personnummer` in polisen.jsonl:3``. Mappings import this module
as ``t``; the helpers live by kind: `_fields` (paths, `FieldError`), `_values` (text, numbers,
money, dates), `_references` (persons, organisations, vehicles) and `_subjects` (the envelope).
"""

from ._fields import FieldError, get, items, opt
from ._references import organisation, party, person, vehicle
from ._subjects import envelope, subjects_of
from ._values import STOCKHOLM, amount_ore, boolean, choice, date, datetime, integer, quantity, text

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
