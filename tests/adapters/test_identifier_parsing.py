"""An adapter reads a personnummer exactly as the schema does: one parser, the schema's."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samband.adapters import _transforms as t
from samband.schemas import (
    InvalidIdentifier,
    PersonRef,
    normalise_personnummer,
    reset_state,
    synthetic_personnummer,
)

# Digits of other scripts that `int()` reads like ASCII ones (and `\d` matches): a personnummer
# written with any of them is not one.
LOOK_ALIKES = ("０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "߀߁߂߃߄߅߆߇߈߉")


@st.composite
def written_personnummer(draw: st.DrawFn) -> str:
    """A personnummer as an export may write it: 10 or 12 digits, with `-`, `+` or no separator,
    maybe padded, maybe with a digit changed (a bad date or check digit) or written in another script."""
    twelve = synthetic_personnummer(random.Random(draw(st.integers(0, 2**32))), samordning=draw(st.booleans()))
    digits = list(twelve if draw(st.booleans()) else twelve[2:])
    mutation = draw(st.sampled_from(["none", "look-alike", "changed", "all look-alike"]))
    if mutation == "changed":
        i = draw(st.integers(0, len(digits) - 1))
        digits[i] = str(draw(st.integers(0, 9)))
    elif mutation != "none":
        script = draw(st.sampled_from(LOOK_ALIKES))
        where = range(len(digits)) if mutation == "all look-alike" else [draw(st.integers(0, len(digits) - 1))]
        for i in where:
            digits[i] = script[int(digits[i])]
    sep = draw(st.sampled_from(["", "-", "+"]))
    text = "".join(digits[:-4]) + sep + "".join(digits[-4:])
    return draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " "]))


def schema_reads(text: str) -> PersonRef | str:
    try:
        return PersonRef(pnr=normalise_personnummer(text))
    except InvalidIdentifier as exc:
        return str(exc)


def adapter_reads(text: str) -> PersonRef | str:
    try:
        return t.person({"personnummer": text}, "personnummer")
    except t.FieldError as exc:
        assert (exc.kind, exc.field) == ("identifier", "$.personnummer")
        return exc.reason


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written_personnummer())
def test_an_adapter_reads_every_written_personnummer_exactly_as_the_schema_does(text):
    assert adapter_reads(text) == schema_reads(text)
    assert adapter_reads(text) == schema_reads(text)  # and again, from the adapter's cache


def test_a_personnummer_in_other_scripts_digits_is_refused_by_the_adapter_as_by_the_schema():
    arabic = "".join("٠١٢٣٤٥٦٧٨٩"[int(c)] for c in "8503121231")
    expected = "Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), got **** of 10 characters"
    assert adapter_reads(arabic) == schema_reads(arabic) == expected
    assert adapter_reads("19850312+1231") == "Invalid personnummer 198503**-****: `+` belongs to the 10-digit form only"


def test_resetting_the_process_state_forgets_the_references_an_adapter_has_read():
    first = t.person({"p": "850312-1231"}, "p")
    assert t.person({"p": "850312-1231"}, "p") is first
    reset_state()
    again = t.person({"p": "850312-1231"}, "p")
    assert again == first and again is not first


def test_latin_1_by_any_of_its_names_is_read_as_latin_1_by_every_format():
    from samband.adapters._formats import Csv, FixedWidth, Xml

    row = "Överklagat;Åtal\r\nJa;Nej\r\n".encode("latin-1")
    for name in ("latin-1", "Latin1", "ISO-8859-1"):
        csv = Csv(encoding=name)
        assert csv.encoding == FixedWidth(layouts={"A": []}, encoding=name).encoding == "latin-1"
        opened = csv.open(row)
        assert opened.header == ("Överklagat", "Åtal")
        head = f'<?xml version="1.0" encoding="{name}"?>\n<Export/>'.encode()
        assert Xml(record_tag="Post").open(head).encoding == "latin-1"
        assert Xml(record_tag="Post", encoding=name).dump([]).startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert Csv(encoding="utf-8-sig").encoding == Xml(record_tag="Post").open(b"<Export/>").encoding == "utf-8"
