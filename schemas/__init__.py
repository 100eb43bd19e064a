"""samband.schemas: the shared language of the bus. Depends on nothing else of ours."""

from ._base import REGIONS, OrganisationRef, PersonRef, Record, Region, Schema, SubjectRef, VehicleRef
from ._codec import Codec, encode
from ._envelope import ENVELOPE_SCHEMA, Envelope, Handling, new_envelope_id
from ._errors import DecodeError, InvalidIdentifier, SchemaError
from ._identifiers import (
    PNR_SHAPE,
    is_samordningsnummer,
    luhn_digit,
    mask_personnummer,
    normalise_orgnr,
    normalise_personnummer,
    normalise_plate,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)
from ._records import *  # noqa: F403 - the record types are the package's surface
from ._records import __all__ as _records_all

ENVELOPE = Codec(Envelope, "envelope")

__all__ = [
    "ENVELOPE", "ENVELOPE_SCHEMA", "PNR_SHAPE", "REGIONS",
    "Codec", "DecodeError", "Envelope", "Handling", "InvalidIdentifier", "OrganisationRef",
    "PersonRef", "Record", "Region", "Schema", "SchemaError", "SubjectRef",
    "VehicleRef", "encode", "is_samordningsnummer", "luhn_digit", "mask_personnummer",
    "new_envelope_id", "normalise_orgnr", "normalise_personnummer", "normalise_plate",
    "synthetic_orgnr", "synthetic_personnummer", "synthetic_plate",
    *_records_all,
]
