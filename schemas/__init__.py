"""samband.schemas: the shared language of the bus. Depends on nothing else of ours.

``ENVELOPE`` decodes strictly (writers, the router's ingest); ``ENVELOPE_READER`` is the
tolerant reader for what is delivered to you (it skips fields a newer minor version added).
``codec_for`` gives the one reusable codec of any record type. See docs/schemas.md.
"""

import functools as _functools

from ._base import REGIONS, OrganisationRef, PersonRef, Record, Region, Schema, SubjectRef, VehicleRef
from ._bus import BUS_SUBJECTS, BusSubject
from ._codec import Codec, encode
from ._compat import Change, check_evolution, compare_schemas, parse_version
from ._deadletter import DEAD_LETTER, MAX_RAW_BYTES, DeadLetter, RawRef
from ._envelope import ENVELOPE_SCHEMA, Envelope, Handling, new_envelope_id
from ._errors import DecodeError, InvalidIdentifier, SchemaError
from ._export import asyncapi_document, check_snapshot, export_schemas, json_schema, register_message, schema_documents
from ._identifiers import (
    ORGNR_PATTERN,
    PLATE_PATTERN,
    PNR_PATTERN,
    PNR_SHAPE,
    is_samordningsnummer,
    luhn_digit,
    mask_orgnr,
    mask_personnummer,
    mask_plate,
    normalise_orgnr,
    normalise_personnummer,
    normalise_plate,
    personnummer_form,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)
from ._names import did_you_mean, unknown_name
from ._outcomes import OUTCOME_CATEGORIES, category_name, format_kronor
from ._records import *  # noqa: F403 - the record types are the package's surface
from ._records import RECORD_TYPES as _RECORD_TYPES
from ._records import __all__ as _records_all
from ._state import current_date
from ._state import reset as reset_state
from ._state import track as track_cache
from ._tolerant import tolerant

ENVELOPE = Codec(Envelope, "envelope")
ENVELOPE_READER = Codec(Envelope, "envelope", tolerant=True)


def codec_for(record_type: str | type[Record], *, tolerant: bool = False) -> Codec[Record]:
    """The one codec of a record type (by tag or class), strict unless ``tolerant``."""
    return _codec(_RECORD_TYPES[record_type] if isinstance(record_type, str) else record_type, tolerant)


@_functools.cache
def _codec(cls: type[Record], tolerant: bool) -> Codec[Record]:
    return Codec(cls, str(cls.__struct_config__.tag), tolerant=tolerant)  # a record's tag is always a str


__all__ = [
    "BUS_SUBJECTS",
    "DEAD_LETTER",
    "ENVELOPE",
    "ENVELOPE_READER",
    "ENVELOPE_SCHEMA",
    "MAX_RAW_BYTES",
    "ORGNR_PATTERN",
    "OUTCOME_CATEGORIES",
    "PLATE_PATTERN",
    "PNR_PATTERN",
    "PNR_SHAPE",
    "REGIONS",
    "BusSubject",
    "Change",
    "Codec",
    "DeadLetter",
    "DecodeError",
    "Envelope",
    "Handling",
    "InvalidIdentifier",
    "OrganisationRef",
    "PersonRef",
    "RawRef",
    "Record",
    "Region",
    "Schema",
    "SchemaError",
    "SubjectRef",
    "VehicleRef",
    "asyncapi_document",
    "category_name",
    "check_evolution",
    "check_snapshot",
    "codec_for",
    "compare_schemas",
    "current_date",
    "did_you_mean",
    "encode",
    "export_schemas",
    "format_kronor",
    "is_samordningsnummer",
    "json_schema",
    "luhn_digit",
    "mask_orgnr",
    "mask_personnummer",
    "mask_plate",
    "new_envelope_id",
    "normalise_orgnr",
    "normalise_personnummer",
    "normalise_plate",
    "parse_version",
    "personnummer_form",
    "register_message",
    "reset_state",
    "schema_documents",
    "synthetic_orgnr",
    "synthetic_personnummer",
    "synthetic_plate",
    "tolerant",
    "track_cache",
    "unknown_name",
    *_records_all,
]
