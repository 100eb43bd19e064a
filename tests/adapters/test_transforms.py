"""Field transforms: identifiers seen before are reused, bad ones are rejected every time."""

from __future__ import annotations

import pytest

from samband.adapters import _transforms as t
from samband.schemas import PersonRef, VehicleRef


def test_a_person_seen_again_in_an_export_is_the_same_validated_reference():
    first = t.person({"forare": {"personnummer": "850312-1231"}}, "forare.personnummer")
    again = t.person({"p": "850312-1231"}, "p")
    assert first == PersonRef(pnr="198503121231") and again is first
    assert (
        t.vehicle({"regnr": "ABC123"}, "regnr") is t.vehicle({"regnr": "ABC123"}, "regnr") == VehicleRef(plate="ABC123")
    )


@pytest.mark.parametrize("attempt", [1, 2])
def test_a_bad_check_digit_is_rejected_every_time_it_comes(attempt):
    with pytest.raises(t.FieldError) as exc:
        t.person({"forare": {"personnummer": "850312-1235"}}, "forare.personnummer")
    assert exc.value.kind == "identifier" and exc.value.field == "$.forare.personnummer"


def test_a_blank_optional_field_is_none_and_a_blank_required_one_is_missing():
    assert t.person({"p": "  "}, "p", optional=True) is None
    with pytest.raises(t.FieldError) as exc:
        t.text({"a": {"b": ""}}, "a.b")
    assert (exc.value.kind, exc.value.field) == ("missing-field", "$.a.b")
    assert t.text({"a.b": " x "}, "a.b") == "x"  # a flat key with a dot in its name still wins


def test_a_plate_written_loosely_is_normalised_and_a_bad_one_named():
    assert t.vehicle({"regnr": " abc 12d "}, "regnr") == VehicleRef(plate="ABC12D")
    with pytest.raises(t.FieldError) as exc:
        t.vehicle({"regnr": "ABC1234"}, "regnr")
    assert exc.value.kind == "identifier" and exc.value.field == "$.regnr" and "registration plate" in exc.value.reason
