"""Every record type, and the envelope, survives encode -> decode unchanged, and what is
encoded is valid under the JSON Schema that `samband schemas export` publishes."""

from __future__ import annotations

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from samband.schemas import ENVELOPE, ENVELOPE_READER, RECORD_TYPES, Envelope, codec_for, encode, json_schema

from .strategies import envelopes, struct_strategy

_FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("tag", sorted(RECORD_TYPES))
def test_every_record_type_round_trips_and_matches_its_published_schema(tag):
    cls = RECORD_TYPES[tag]
    codec = codec_for(tag)
    validator = jsonschema.Draft202012Validator(json_schema(cls, tag))

    @_FAST
    @given(struct_strategy(cls))
    def check(record):
        data = encode(record)
        assert codec.decode(data) == record
        validator.validate(msgspec.json.decode(data))

    check()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
def test_every_envelope_round_trips_through_the_strict_and_the_tolerant_reader(env):
    data = encode(env)
    assert ENVELOPE.decode(data) == env
    read = ENVELOPE_READER.decode(data)
    # The tolerant twin is a subclass: same fields, same values, same isinstance, equal and hashing alike.
    assert isinstance(read, Envelope) and encode(read) == data
    assert read == env and env == read and read == env and hash(read.handling) == hash(env.handling)


def test_the_envelope_and_every_record_type_has_one_reusable_codec():
    assert codec_for("police.vehicle_control") is codec_for(RECORD_TYPES["police.vehicle_control"])
    assert ENVELOPE.type is Envelope
