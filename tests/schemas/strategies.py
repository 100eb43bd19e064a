"""Hypothesis strategies built from the structs themselves (msgspec.inspect), so a new
record type or field is covered without touching the tests. Identifiers come from the
synthetic generators: every reference is valid, as on the bus."""

from __future__ import annotations

import datetime as _dt
import random

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from samband.schemas import (
    Envelope,
    Handling,
    OrganisationRef,
    PersonRef,
    VehicleRef,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)

_seeds = st.integers(0, 2**32)
# Identifiers are drawn from a small pool so the bounded "already validated" set is
# exercised both ways (first sight and seen again).
_IDENTIFIERS = {
    PersonRef: st.builds(
        lambda seed, s: PersonRef(pnr=synthetic_personnummer(random.Random(seed), samordning=s)), _seeds, st.booleans()
    ),
    OrganisationRef: st.builds(lambda seed: OrganisationRef(orgnr=synthetic_orgnr(random.Random(seed))), _seeds),
    VehicleRef: st.builds(lambda seed: VehicleRef(plate=synthetic_plate(random.Random(seed))), _seeds),
}

_text = st.text(max_size=40)
_zones = st.sampled_from([_dt.UTC, _dt.timezone(_dt.timedelta(hours=1)), _dt.timezone(_dt.timedelta(hours=2))])
_datetimes = st.datetimes(min_value=_dt.datetime(1990, 1, 1), max_value=_dt.datetime(2040, 1, 1), timezones=_zones)
_dates = st.dates(min_value=_dt.date(1990, 1, 1), max_value=_dt.date(2040, 1, 1))


def _for(t: mi.Type) -> st.SearchStrategy:
    if isinstance(t, mi.Metadata):
        return _for(t.type)
    if isinstance(t, mi.IntType) and t.ge is not None:  # e.g. an amount in öre that cannot be negative
        return st.integers(t.ge, 2**63 - 1)
    if isinstance(t, mi.StructType):
        return struct_strategy(t.cls)
    if isinstance(t, mi.UnionType):
        return st.one_of([_for(x) for x in t.types])
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.StrType):
        return _text
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.integers(-(2**63), 2**63 - 1)
    if isinstance(t, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.DateTimeType):
        return _datetimes
    if isinstance(t, mi.DateType):
        return _dates
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.VarTupleType):
        return st.lists(_for(t.item_type), max_size=3).map(tuple)
    if isinstance(t, mi.DictType):
        return st.dictionaries(_for(t.key_type), _for(t.value_type), max_size=3)
    raise NotImplementedError(f"no strategy for {t!r}: teach tests/schemas/strategies.py")


def struct_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy:
    """Any valid instance of ``cls``: required fields always, optional ones sometimes."""
    if cls in _IDENTIFIERS:
        return _IDENTIFIERS[cls]
    if cls is Envelope:
        return envelopes()
    info = mi.type_info(cls)
    required = {f.name: _for(f.type) for f in info.fields if f.required}
    optional = {f.name: _for(f.type) for f in info.fields if not f.required}
    return (
        st.fixed_dictionaries(required, optional=optional)
        .map(lambda kw: _build(cls, kw))
        .filter(lambda x: x is not None)
    )


def _build(cls, kw):
    """The instance, or None when the type's own checks refuse the draw (e.g. a period that ends before it starts)."""
    try:
        return cls(**kw)
    except ValueError:
        return None


@st.composite
def envelopes(draw, record: st.SearchStrategy | None = None) -> Envelope:
    """Envelopes carrying any record; an intelligence note always names its recipients, as the envelope demands."""
    from samband.schemas import RECORD_TYPES

    rec = draw(
        record
        if record is not None
        else st.sampled_from(sorted(RECORD_TYPES)).flatmap(lambda t: struct_strategy(RECORD_TYPES[t]))
    )
    handling = draw(struct_strategy(Handling))
    if rec.__struct_config__.tag == "security.intelligence_note" and not handling.named_recipients:
        handling = msgspec.structs.replace(handling, named_recipients=("polisen",))
    info = mi.type_info(Envelope)
    skip = {"record", "handling", "schema"}
    required = {f.name: _for(f.type) for f in info.fields if f.required and f.name not in skip}
    optional = {f.name: _for(f.type) for f in info.fields if not f.required and f.name not in skip}
    fields = draw(st.fixed_dictionaries(required, optional=optional))
    return Envelope(record=rec, handling=handling, **fields)
