"""Bad input in four native formats: each case ends in the agency's dead letters, the rest is published."""

from __future__ import annotations

import random

import pytest

from samband.adapters import MAX_RECORD_BYTES, mapping_for, native_format

from .._support import OPERATION, run_export

# Where each agency's sample keeps the fields the cases break (record 0 of each sample).
FIELDS = {
    "polisen": {"pnr": ("forare", "personnummer"), "date": ("tidpunkt",), "required": ("plats",)},
    "forsakringskassan": {"pnr": ("Personnummer",), "date": ("Beslutsdatum",), "required": ("Förmån",)},
    "kronofogden": {"pnr": ("galdenar",), "date": ("datum",), "required": ("borgenar",)},
    "tullverket": {"pnr": ("Innehavare", "Personnummer"), "date": ("Tidpunkt",), "required": ("Vara",)},
}
IMPOSSIBLE = {
    "polisen": "2017-02-30T20:00:00+01:00",
    "forsakringskassan": "2017-02-30",
    "kronofogden": "20170230",
    "tullverket": "2017-02-30T20:00:00",
}
BAD_PNR = "850312-1235"  # 850312-1231 is valid (Luhn over 850312123 gives 1)


def _set(rec: dict, path: tuple[str, ...], value) -> None:
    for p in path[:-1]:
        rec = rec[p]
    if value is None:
        del rec[path[-1]]
    else:
        rec[path[-1]] = value


def build(agency: str, case: str, n: int = 6) -> tuple[bytes, int]:
    """An export of ``n`` good records with one bad one at index 2 (or at the end); the bad record's index."""
    mapping = mapping_for(agency)
    fmt = native_format(mapping)
    records = mapping.sample(random.Random(f"bad-{agency}-{case}"), n + 1, operation=OPERATION)
    bad = 3 if agency == "kronofogden" else 2  # kronofogden's sample rotates SK, UT, BS: 3 is a debt (SK)
    if case == "missing-field":
        _set(records[bad], FIELDS[agency]["required"], "" if fmt.name in ("csv", "fixed") else None)
    elif case == "check-digit":
        _set(records[bad], FIELDS[agency]["pnr"], BAD_PNR)
    elif case == "impossible-date":
        _set(records[bad], FIELDS[agency]["date"], IMPOSSIBLE[agency])
    if case in ("missing-field", "check-digit", "impossible-date"):
        return fmt.dump(records), bad
    good = fmt.dump(records[:bad] + records[bad + 1 :])
    one = fmt.dump([records[bad]])
    if fmt.name == "csv":
        one = one.split(b"\r\n", 1)[1]  # without the header
    elif fmt.name == "xml":
        one = one[one.index(b"<Beslag") : one.rindex(b"</Beslag>") + len(b"</Beslag>")] + b"\n"
    if case == "syntax":
        broken = {
            "jsonl": one.replace(b'"plats"', b'"plats', 1),
            "csv": one.replace(b";", b';"', 1),
            "fixed": b"XX" + one[2:],
            "xml": one.replace(b"</Vara>", b"</Varaa>", 1),
        }[fmt.name]
    elif case == "encoding":  # Latin-1 bytes in a UTF-8 source, UTF-8 bytes in a Latin-1 source
        broken = {
            "jsonl": one.replace("färjeläget".encode(), "färjeläget".encode("latin-1")),
            "csv": one[:-2].replace(b";", ";å".encode(), 1) + b"\r\n",
            "fixed": one[:40] + "ö".encode() + one[42:],
            "xml": one.replace("färjeläget".encode(), "färjeläget".encode("latin-1")),
        }[fmt.name]
    elif case == "oversized":
        pad = b"x" * (MAX_RECORD_BYTES + 10)
        broken = {
            "jsonl": one.replace(b'"plats":"', b'"plats":"' + pad, 1),
            "csv": one.replace(b";", b";" + pad, 1),
            "fixed": one[:-2] + pad + b"\r\n",
            "xml": one.replace(b"<Vara>", b"<Vara>" + pad, 1),
        }[fmt.name]
    if case == "truncated":
        cut = {"jsonl": 40, "csv": 30, "fixed": 50, "xml": 200}[fmt.name]
        if fmt.name == "xml":
            body = good.rsplit(b"</Tullexport>", 1)[0]
            return body + one[:cut], n
        return good + one[:cut], n
    # insert the broken record after the second good one
    if fmt.name == "xml":
        head, rest = good.split(b"<Beslag", 1)
        parts = (b"<Beslag" + rest).split(b"</Beslag>\n", 2)
        return head + parts[0] + b"</Beslag>\n" + parts[1] + b"</Beslag>\n" + broken + b"  " + parts[2], bad
    lines = good.split(b"\n")
    skip = 1 if fmt.name == "csv" else 0
    lines.insert(bad + skip, broken.rstrip(b"\n"))
    return b"\n".join(lines), bad


AGENCIES = ("polisen", "forsakringskassan", "kronofogden", "tullverket")
CASES = ("syntax", "missing-field", "check-digit", "impossible-date", "encoding", "oversized", "truncated")
EXPECTED = {
    ("polisen", "syntax"): "malformed JSON: expected ':' at column 83 - at polisen.jsonl:3",
    (
        "polisen",
        "missing-field",
    ): "Expected a value, got none (missing required field) - at `$.plats` in polisen.jsonl:3",
    (
        "polisen",
        "check-digit",
    ): "Invalid personnummer 198503**-****: bad check digit - at `$.forare.personnummer` in polisen.jsonl:3",
    (
        "polisen",
        "impossible-date",
    ): "Expected a date and time (ISO 8601), got '2017-02-30T20:00:00+01:00': no such date or time - at `$.tidpunkt` in polisen.jsonl:3",
    ("polisen", "encoding"): "Expected UTF-8 text, got byte 0xe4 at column 98 - at polisen.jsonl:3",
    ("polisen", "oversized"): "record of 1048874 bytes exceeds the 1048576-byte limit - at polisen.jsonl:3",
    (
        "polisen",
        "truncated",
    ): "truncated last record (the source ends inside it): malformed JSON: Input data was truncated - at polisen.jsonl:7",
    ("forsakringskassan", "syntax"): "malformed CSV: unexpected end of data - at forsakringskassan.csv:4",
    (
        "forsakringskassan",
        "missing-field",
    ): "Expected a value, got none (missing required field) - at `$.Förmån` in forsakringskassan.csv:4",
    (
        "forsakringskassan",
        "check-digit",
    ): "Invalid personnummer 198503**-****: bad check digit - at `$.Personnummer` in forsakringskassan.csv:4",
    (
        "forsakringskassan",
        "impossible-date",
    ): "Expected a date (%Y-%m-%d), got '2017-02-30': no such date - at `$.Beslutsdatum` in forsakringskassan.csv:4",
    (
        "forsakringskassan",
        "encoding",
    ): "Expected Latin-1 text, got UTF-8 bytes 0xc3 0xa5 at column 15 - at forsakringskassan.csv:4",
    (
        "forsakringskassan",
        "oversized",
    ): "record of 1048673 bytes exceeds the 1048576-byte limit - at forsakringskassan.csv:4",
    (
        "forsakringskassan",
        "truncated",
    ): "truncated last record (the source ends inside it): Expected 9 fields separated by `;`, got 3 - at forsakringskassan.csv:8",
    (
        "kronofogden",
        "syntax",
    ): "Expected record type one of ('SK', 'UT', 'BS'), got 'XX' - at `$.posttyp` in kronofogden.txt:4",
    (
        "kronofogden",
        "missing-field",
    ): "Expected a value, got none (missing required field) - at `$.borgenar` in kronofogden.txt:4",
    (
        "kronofogden",
        "check-digit",
    ): "Invalid personnummer 198503**-****: bad check digit - at `$.galdenar` in kronofogden.txt:4",
    (
        "kronofogden",
        "impossible-date",
    ): "Expected a date (%Y%m%d), got '20170230': no such date - at `$.datum` in kronofogden.txt:4",
    ("kronofogden", "encoding"): "Expected Latin-1 text, got UTF-8 bytes 0xc3 0xb6 at column 41 - at kronofogden.txt:4",
    ("kronofogden", "oversized"): "record of 1048697 bytes exceeds the 1048576-byte limit - at kronofogden.txt:4",
    (
        "kronofogden",
        "truncated",
    ): "truncated last record (the source ends inside it): Expected a `SK` record of 110 characters, got 50 - at kronofogden.txt:7",
    ("tullverket", "syntax"): "malformed XML: mismatched tag at column 15 - at tullverket.xml:44",
    (
        "tullverket",
        "missing-field",
    ): "Expected a value, got none (missing required field) - at `$.Vara` in tullverket.xml:39",
    (
        "tullverket",
        "check-digit",
    ): "Invalid personnummer 198503**-****: bad check digit - at `$.Innehavare.Personnummer` in tullverket.xml:39",
    (
        "tullverket",
        "impossible-date",
    ): "Expected a date and time (ISO 8601), got '2017-02-30T20:00:00': no such date or time - at `$.Tidpunkt` in tullverket.xml:39",
    ("tullverket", "encoding"): "Expected UTF-8 text, got byte 0xe4 at column 26 - at tullverket.xml:43",
    ("tullverket", "oversized"): "record of 1049064 bytes exceeds the 1048576-byte limit - at tullverket.xml:39",
    (
        "tullverket",
        "truncated",
    ): "truncated last record (the source ends inside it): malformed XML: unclosed token at column 5 - at tullverket.xml:109",
}
KIND = {
    "syntax": "syntax",
    "missing-field": "missing-field",
    "check-digit": "identifier",
    "impossible-date": "date",
    "encoding": "encoding",
    "oversized": "oversized",
    "truncated": "truncated",
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("agency", AGENCIES)
async def test_a_bad_record_is_dead_lettered_with_its_reason_and_the_rest_is_published(bus, export_dir, agency, case):
    data, _ = build(agency, case)
    path = export_dir / f"{agency}{native_format(mapping_for(agency)).suffixes[0]}"
    path.write_bytes(data)
    summary, letters = await run_export(bus, agency, path)
    assert (summary.published, summary.dead_lettered) == (6, 1), [str(r) for r in summary.rejected]
    rej = summary.rejected[0]
    assert (rej.kind, str(rej)) == (KIND[case], EXPECTED[agency, case])
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.kind, letter.position, letter.reason, letter.field) == (
        rej.kind,
        rej.position,
        rej.reason,
        rej.field,
    )
    if case == "oversized":
        assert letter.raw is None and letter.raw_ref.length > MAX_RECORD_BYTES and len(letter.raw_ref.sha256) == 64
    else:
        assert letter.raw and data[letter.offset : letter.offset + letter.length] == letter.raw


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("forare", "199001011234", "Expected an object, got `str` - at `$.forare`"),
        ("forare", [{"personnummer": "850312-1231"}], "Expected an object, got `list` - at `$.forare`"),
        ("fordonstyp", 3, "Expected text, got `int` - at `$.fordonstyp`"),
    ],
)
async def test_a_wrongly_shaped_field_is_a_dead_letter_never_a_silently_dropped_value(
    bus, export_dir, field, value, reason
):
    import msgspec

    records = mapping_for("polisen").sample(random.Random(f"shape-{field}-{value!r}"), 3, operation=OPERATION)
    records[1][field] = value
    path = export_dir / "polisen.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in records))
    summary, letters = await run_export(bus, "polisen", path)
    assert (summary.published, summary.dead_lettered) == (2, 1)
    assert str(summary.rejected[0]) == f"{reason} in polisen.jsonl:2"
    assert [letter.reason for letter in letters] == [summary.rejected[0].reason]
