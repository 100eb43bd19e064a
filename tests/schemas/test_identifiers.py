"""Swedish identifiers: generated ones validate, broken ones are refused with a masked message."""

from __future__ import annotations

import datetime as _dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samband.schemas import (
    InvalidIdentifier,
    OrganisationRef,
    PersonRef,
    VehicleRef,
    is_samordningsnummer,
    normalise_orgnr,
    normalise_personnummer,
    normalise_plate,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)

TODAY = _dt.date(2026, 11, 23)


@given(st.integers(0, 2**32), st.booleans())
def test_every_generated_personnummer_validates_in_every_written_form(seed, samordning):
    pnr = synthetic_personnummer(random.Random(seed), samordning=samordning)
    assert normalise_personnummer(pnr) == pnr
    assert normalise_personnummer(f"{pnr[:8]}-{pnr[8:]}") == pnr
    assert normalise_personnummer(f"{pnr[2:8]}-{pnr[8:]}") == pnr  # generated people are all under 100
    assert normalise_personnummer(pnr[2:]) == pnr
    assert is_samordningsnummer(pnr) == samordning
    assert PersonRef(pnr=pnr).pnr == pnr


@given(st.integers(0, 2**32))
def test_every_generated_orgnr_and_plate_validates(seed):
    rng = random.Random(seed)
    orgnr, plate = synthetic_orgnr(rng), synthetic_plate(rng)
    assert normalise_orgnr(orgnr) == orgnr == OrganisationRef(orgnr=orgnr).orgnr
    assert normalise_plate(plate) == plate == VehicleRef(plate=plate).plate


@pytest.mark.parametrize(
    "written,expected",
    [
        ("850312-1231", "198503121231"),
        ("8503121231", "198503121231"),
        ("19850312-1231", "198503121231"),
        (" 198503121231 ", "198503121231"),
        ("250312-1234", "202503121234"),  # a child: the latest year ending in 25 that is not in the future
        ("250312+1234", "192503121234"),  # '+': turns 100 or more this year
        ("260101+1238", "192601011238"),  # turns 100 this year: '+' from the new year, not from the birthday
        ("850372-1238", "198503721238"),  # samordningsnummer: day 12 + 60
    ],
)
def test_written_forms_normalise_to_twelve_digits_with_the_right_century(written, expected):
    assert normalise_personnummer(written, today=TODAY) == expected


INVALID = [
    (normalise_personnummer, "198503121235", "Invalid personnummer 198503**-****: bad check digit"),
    (normalise_personnummer, "19850230-1231", "Invalid personnummer 198502**-****: no such date"),
    (normalise_personnummer, "19840230-1231", "Invalid personnummer 198402**-****: no such date"),
    (
        normalise_personnummer,
        "8503121",
        "Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), got **** of 7 characters",
    ),
    (
        normalise_personnummer,
        "1985031212310",
        "Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), got 198503**-**** of 13 characters",
    ),
    (
        normalise_personnummer,
        "850392-1231",
        "Invalid personnummer 198503**-****: no such date",
    ),  # samordningsnummer day 92
    (
        normalise_personnummer,
        "850345-1231",
        "Invalid personnummer 198503**-****: no such date",
    ),  # neither a day nor day + 60
    (
        normalise_personnummer,
        "19850312+1231",
        "Invalid personnummer 198503**-****: `+` belongs to the 10-digit form only",
    ),
    (normalise_personnummer, "20271231-1231", "Invalid personnummer 202712**-****: date of birth in the future"),
    (
        normalise_personnummer,
        "８５０３１２-１２３１",  # full-width digits are not digits of a personnummer
        "Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), got **** of 11 characters",
    ),
    (normalise_personnummer, 198503121231, "Expected personnummer as `str`, got `int`"),
    (normalise_orgnr, "556677-8890", "Invalid organisationsnummer 5566**-****: bad check digit"),
    (
        normalise_orgnr,
        "851212-1231",
        "Invalid organisationsnummer 8512**-****: third digit must be 2 or more (a personnummer is a person)",
    ),
    (normalise_orgnr, "55667788", "Expected organisationsnummer NNNNNN-NNNN, got **** of 8 characters"),
    (normalise_plate, "ABC12O", "Expected registration plate like ABC123 or ABC12D, got A***** of 6 characters"),
    (normalise_plate, "AIC123", "Expected registration plate like ABC123 or ABC12D, got A***** of 6 characters"),
    (normalise_plate, "AB123", "Expected registration plate like ABC123 or ABC12D, got A**** of 5 characters"),
    (normalise_plate, "ÅBC123", "Expected registration plate like ABC123 or ABC12D, got Å***** of 6 characters"),
]


@pytest.mark.parametrize("fn,value,message", INVALID, ids=[f"{f.__name__}:{v}" for f, v, _ in INVALID])
def test_an_invalid_identifier_is_refused_with_a_masked_message(fn, value, message):
    with pytest.raises(InvalidIdentifier) as err:
        fn(value, today=TODAY) if fn is normalise_personnummer else fn(value)
    assert str(err.value) == message
    if isinstance(value, str) and len(value) >= 10:
        assert value.strip()[-4:] not in str(err.value)


def test_a_reference_built_by_hand_holds_only_the_canonical_form():
    with pytest.raises(InvalidIdentifier) as err:
        PersonRef(pnr="850312-1231")
    assert str(err.value) == "Expected personnummer in canonical form YYYYMMDDNNNC, got 8503**-****"
    with pytest.raises(InvalidIdentifier) as err:
        VehicleRef(plate="abc 123")
    assert str(err.value) == "Expected registration plate in canonical form ABC123, got a*****"


def test_references_never_show_the_identifier_in_repr_or_str():
    rng = random.Random(1)
    pnr, orgnr, plate = synthetic_personnummer(rng), synthetic_orgnr(rng), synthetic_plate(rng)
    for ref, secret in [
        (PersonRef(pnr=pnr), pnr[6:]),
        (OrganisationRef(orgnr=orgnr), orgnr[4:]),
        (VehicleRef(plate=plate), plate[1:]),
    ]:
        assert secret not in repr(ref) and secret not in str(ref)
    assert repr(PersonRef(pnr=pnr)) == f"PersonRef(pnr='{pnr[:6]}**-****')"


def test_the_generator_never_emits_serial_number_000_which_is_never_issued():
    rng = random.Random("serials")
    serials = {synthetic_personnummer(rng, samordning=i % 2 == 1)[8:11] for i in range(20_000)}
    assert "000" not in serials
    assert len(serials) == 999  # every other serial does come out
