"""Swedish identifiers: generated ones validate, broken ones are refused with a masked message."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samband.schemas import (
    InvalidIdentifier,
    PersonRef,
    normalise_orgnr,
    normalise_personnummer,
    normalise_plate,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)


@given(st.integers(0, 2**32), st.booleans())
def test_every_generated_personnummer_validates_in_every_written_form(seed, samordning):
    pnr = synthetic_personnummer(random.Random(seed), samordning=samordning)
    assert normalise_personnummer(pnr) == pnr
    assert normalise_personnummer(f"{pnr[:8]}-{pnr[8:]}") == pnr
    assert normalise_personnummer(f"{pnr[2:8]}-{pnr[8:]}") == pnr  # generated people are all under 100


@given(st.integers(0, 2**32))
def test_every_generated_orgnr_and_plate_validates(seed):
    rng = random.Random(seed)
    assert normalise_orgnr(synthetic_orgnr(rng))
    assert normalise_plate(synthetic_plate(rng))


@pytest.mark.parametrize("value,message", [
    ("198503121235", "Invalid personnummer 198503**-****: bad check digit"),
    ("19850230-1234", "Invalid personnummer 198502**-****: no such date"),
    ("8503121", "Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), got **** of 7 characters"),
])
def test_invalid_personnummer_is_refused_with_a_masked_message(value, message):
    with pytest.raises(InvalidIdentifier) as err:
        normalise_personnummer(value)
    assert str(err.value) == message


def test_a_person_reference_never_shows_the_number_in_its_repr():
    pnr = synthetic_personnummer(random.Random(1))
    assert pnr not in repr(PersonRef(pnr=pnr))
    assert pnr[8:] not in str(PersonRef(pnr=pnr))
