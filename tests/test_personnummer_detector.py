"""The clear-text personnummer detector the suite runs over every log, process output and server log.

It must find a personnummer in each form a person or a program writes one, and nothing that only
looks like one, so that a scan that finds nothing means something.
"""

from __future__ import annotations

import datetime as _dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from samband.schemas import InvalidIdentifier, normalise_personnummer, synthetic_personnummer
from samband.testing import find_personnummer

RNG = random.Random(774)
PEOPLE = [synthetic_personnummer(RNG) for _ in range(200)] + [
    synthetic_personnummer(RNG, samordning=True) for _ in range(100)
]


def _forms(pnr: str) -> list[str]:
    short = pnr[2:]
    return [pnr, f"{pnr[:8]}-{pnr[8:]}", short, f"{short[:6]}-{short[6:]}", f"{short[:6]}+{short[6:]}"]


def test_a_personnummer_is_found_in_each_form_it_is_written_and_where_it_stands():
    for pnr in PEOPLE:
        for form in _forms(pnr):
            for text in (form, f'{{"pnr":"{form}"}}', f"driver={form} at Helsingborg", f"x\n\n{form}."):
                found = find_personnummer(text)
                assert len(found) == 1, (text, found)
                assert found[0].line == text.count("\n", 0, text.index(form)) + 1
                assert found[0].born.endswith(f"{pnr[2:4]}-{pnr[4:6]}")


def test_a_personnummer_in_another_script_s_digits_is_still_found():
    pnr = PEOPLE[0]
    fullwidth = "".join(chr(0xFF10 + int(c)) for c in pnr)
    arabic_indic = "".join(chr(0x0660 + int(c)) for c in pnr)
    assert len(find_personnummer(f"got {fullwidth}")) == len(find_personnummer(arabic_indic)) == 1


def test_what_only_looks_like_a_personnummer_is_not_found():
    pnr = PEOPLE[1]
    wrong_check = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)
    texts = [
        wrong_check,
        "197002301234",  # 30 February
        "199913011238",  # month 13
        pnr + "0",  # 13 digits
        pnr[1:],  # 11 digits
        f"4bf92f{pnr}a3ce",  # inside a hex id
        f"00-4bf92f3577b34da6a3ce929d0e0e4736-{pnr[2:]}b7ad6b7169203331-01",
        "2026-11-26T13:44:31.009944Z",
        "PM-CRASH-00012 seq=1764165871",
    ]
    for text in texts:
        assert find_personnummer(text) == [], text


def test_a_failing_scan_names_the_line_and_the_birth_month_never_the_number():
    from samband.testing import assert_no_personnummer

    pnr = PEOPLE[2]
    try:
        assert_no_personnummer(f"ok\nleaked {pnr}\n", "the router's log")
    except AssertionError as exc:
        message = str(exc)
    else:
        raise AssertionError("a personnummer went unnoticed")
    assert message == f"1 personnummer in clear text in the router's log: line 2: born {pnr[:4]}-{pnr[4:6]}"
    assert pnr[6:] not in message


@settings(max_examples=500, deadline=None)
@given(
    born=st.dates(min_value=_dt.date(1900, 1, 1), max_value=_dt.date(2024, 12, 31)),
    serial=st.integers(0, 9999),
    samordning=st.booleans(),
)
def test_the_detector_agrees_with_the_schema_on_every_12_digit_number(born, serial, samordning):
    day = born.day + (60 if samordning else 0)
    number = f"{born.year:04d}{born.month:02d}{day:02d}{serial:04d}"
    try:
        normalise_personnummer(number)
        valid = True
    except InvalidIdentifier:
        valid = False
    assert bool(find_personnummer(number)) == valid, number
