"""The sending side of outcomes (derived from records, or an agency's outcome export) and the report's arithmetic.

No broker: mapping, deriving and adding up are pure; the bus is in tests/outcomes/.
"""

from __future__ import annotations

import datetime as _dt
import random

import pytest

from samband.adapters import (
    FIGURES,
    OutcomeExport,
    RejectedRecord,
    aggregate,
    derive_outcome,
    figure_events,
    map_record,
    mapping_for,
    native_format,
    read_file,
    sek,
    write_export,
)
from samband.schemas import (
    Envelope,
    Outcome,
    PersonRef,
    RecoveryClaim,
    TaxReassessment,
    VehicleControl,
    VehicleRef,
    format_kronor,
    new_envelope_id,
)

DAY = _dt.date(2020, 3, 2)
PERSON = PersonRef(pnr="195711134550")


def envelope(record, *, origin: str | None = None, region: str = "mitt", operation: str = "samverkan-mitt") -> Envelope:
    return Envelope(
        id=new_envelope_id(),
        record=record,
        region=region,
        operation=operation,
        produced_at=_dt.datetime(2020, 3, 2, 10, tzinfo=_dt.UTC),
        origin=origin,
    )


def test_a_reassessment_is_an_outcome_of_hojning_av_skatt_that_names_no_one():
    rec = TaxReassessment(
        decision_id="SKV-1", decided_on=DAY, taxpayer=PERSON, tax_year=2019, increase_ore=512_500_00, surcharge_ore=1
    )
    derived = derive_outcome(envelope(rec), "skatteverket")
    assert derived is not None and derived.subjects == ()
    assert derived.record == Outcome(
        agency="skatteverket",
        region="mitt",
        operation="samverkan-mitt",
        category="tax_reassessment",
        amount_ore=512_500_00,  # the tax raised; the surcharge is a penalty, not a result of the cooperation
        period_from=DAY,
        period_to=DAY,
        source="tax.reassessment:SKV-1",
    )


@pytest.mark.parametrize("amount", [0, -5_000_00])
def test_a_reassessment_that_raises_nothing_derives_no_outcome(amount):
    rec = TaxReassessment(decision_id="SKV-2", decided_on=DAY, taxpayer=PERSON, tax_year=2019, increase_ore=amount)
    assert derive_outcome(envelope(rec), "skatteverket") is None


def test_records_without_an_amount_derive_nothing():
    rec = VehicleControl(
        control_id="PM-1",
        controlled_at=_dt.datetime(2017, 3, 3, 20, tzinfo=_dt.UTC),
        location="Helsingborg",
        vehicle=VehicleRef(plate="LLS264"),
        vehicle_kind="buss",
    )
    assert derive_outcome(envelope(rec, region="syd", operation="bacchus-2017"), "polisen") is None


def export_of(agency: str, rows: list[dict], tmp_path):
    export = OutcomeExport(agency)
    path = write_export(export, rows, tmp_path, name=f"{agency}{export.suffix}")
    return export, list(read_file(path, export.native))


ROW = {
    "Id": "PM-U-1",
    "Myndighet": "polisen",
    "Region": "mitt",
    "Insats": "samverkan-mitt",
    "Kategori": "beslag",
    "Belopp": "1 250 000,50",
    "Status": "",
    "Antal": "3",
    "Från": "2020-03-01",
    "Till": "2020-03-31",
}


def test_an_outcome_export_row_becomes_the_agencys_outcome(tmp_path):
    export, (item,) = export_of("polisen", [ROW], tmp_path)
    key, env = map_record(export, item)
    assert key == "utfall:PM-U-1"
    assert env.record == Outcome(
        agency="polisen",
        region="mitt",
        operation="samverkan-mitt",
        category="seizure",
        amount_ore=125_000_050,
        period_from=_dt.date(2020, 3, 1),
        period_to=_dt.date(2020, 3, 31),
        cases=3,
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"Myndighet": "kronofogden"},
            "Expected `polisen` (this adapter's agency), got `kronofogden` - at `$.Myndighet`",
        ),
        (
            {"Kategori": "kontanter"},
            "Expected a category (höjning av skatt, återkrav, förhindrad felaktig utbetalning, beslag, utmätning, "
            "betalningssäkring, indrivning, transporttillägg, böter, sanktionsavgift), got `kontanter` - at `$.Kategori`",
        ),
        ({"Belopp": "-100,00"}, "Expected an amount above 0 kr, got `-100,00` - at `$.Belopp`"),
        ({"Belopp": "0"}, "Expected an amount above 0 kr, got `0` - at `$.Belopp`"),
        ({"Status": "kanske"}, "Expected one of ('beslutat', 'begärt', ''), got 'kanske' - at `$.Status`"),
    ],
    ids=["another agency's row", "an unknown category", "a negative amount", "nothing", "an unknown status"],
)
def test_a_row_the_follow_up_could_not_trust_is_a_dead_letter(tmp_path, change, reason):
    export, (item,) = export_of("polisen", [ROW | change], tmp_path)
    with pytest.raises(RejectedRecord) as exc:
        map_record(export, item)
    assert str(exc.value).startswith(reason + " in ")


@pytest.mark.parametrize("figures", sorted(FIGURES))
@pytest.mark.parametrize("seed", [1, 2017, 99991])
def test_the_sampled_events_of_every_agency_add_up_to_its_figures_to_the_ore(tmp_path, figures, seed):
    expected: dict[tuple[str, str, str], int] = {}
    for line in FIGURES[figures].lines:
        expected[(line.agency, line.category, line.status)] = line.amount_ore
    got: dict[tuple[str, str, str], int] = {}
    rng = random.Random(seed)
    for agency in sorted({line.agency for line in FIGURES[figures].lines}):
        mapping = mapping_for(agency)
        natives, rows = figure_events(mapping, figures, rng, 7)
        outcomes = []
        if natives:
            path = write_export(mapping, natives, tmp_path / agency)
            outcomes += [
                derive_outcome(map_record(mapping, i)[1], agency) for i in read_file(path, native_format(mapping))
            ]
        if rows:
            export, items = export_of(agency, rows, tmp_path / agency)
            outcomes += [map_record(export, i)[1] for i in items]
        for env in outcomes:
            assert env is not None
            rec = env.record
            start, end = FIGURES[figures].start, FIGURES[figures].end
            assert start <= rec.period_from <= rec.period_to <= end and rec.amount_ore > 0
            key = (agency, rec.category, rec.status)
            got[key] = got.get(key, 0) + rec.amount_ore
    assert got == expected


def outcome_env(agency: str, category: str, amount: int, day: _dt.date, **kw) -> Envelope:
    rec = Outcome(
        agency=agency, region="mitt", category=category, amount_ore=amount, period_from=day, period_to=day, **kw
    )
    return envelope(rec, origin=agency)


def test_the_report_counts_an_outcome_in_the_period_it_ends_and_keeps_requests_out_of_the_total():
    envs = [
        outcome_env("skatteverket", "tax_reassessment", 100_00, _dt.date(2019, 12, 31)),  # last year
        outcome_env("skatteverket", "tax_reassessment", 200_00, _dt.date(2020, 1, 1)),
        outcome_env("forsakringskassan", "recovery_claim", 300_01, _dt.date(2020, 12, 31), cases=4),
        outcome_env("arbetsformedlingen", "recovery_claim", 999_00, _dt.date(2020, 6, 1), status="requested"),
        outcome_env("polisen", "ett_nytt_slag", 5_00, _dt.date(2020, 6, 1)),  # unknown to this reader: shown by id
    ]
    forged = outcome_env("kronofogden", "distraint", 10**9, _dt.date(2020, 6, 1))
    forged = Envelope(
        id=forged.id,
        record=forged.record,
        region="mitt",
        operation="samverkan-mitt",
        produced_at=forged.produced_at,
        origin="polisen",
    )
    r = aggregate(
        [*envs, envs[1], forged], "ruc_mitt", region="mitt", start=_dt.date(2020, 1, 1), end=_dt.date(2020, 12, 31)
    )
    assert [(ln.category_name, ln.agency, ln.records, ln.cases, ln.amount_ore) for ln in r.lines] == [
        ("höjning av skatt", "skatteverket", 1, 1, 200_00),
        ("återkrav", "forsakringskassan", 1, 4, 300_01),
        ("ett_nytt_slag", "polisen", 1, 1, 5_00),
    ]
    assert [(ln.agency, ln.amount_ore) for ln in r.requested] == [("arbetsformedlingen", 999_00)]
    assert (r.total_ore, r.total_sek, r.requested_sek) == (505_01, "505.01", "999.00")
    assert (r.received, r.counted, r.not_own) == (6, 4, 1)  # the repeat counted once, the forged one never


@pytest.mark.parametrize(
    ("ore", "kronor", "machine"),
    [
        (0, "0,00", "0.00"),
        (1, "0,01", "0.01"),
        (6_300_000_000, "63 000 000,00", "63000000.00"),
        (-150, "-1,50", "-1.50"),
    ],
)
def test_amounts_are_written_from_integers_to_the_ore(ore, kronor, machine):
    assert (format_kronor(ore), sek(ore)) == (kronor, machine)


def test_the_report_never_touches_a_float():
    r = aggregate([outcome_env("skatteverket", "tax_reassessment", 1, DAY)], "ruc_mitt")
    values = [r.total_ore, r.requested_ore, *(ln.amount_ore for ln in r.lines), *(s.amount_ore for s in r.by_category)]
    assert all(type(v) is int for v in values)


def test_a_claim_reads_as_recovery(tmp_path):
    # the Försäkringskassan export's ÅTERKRAV rows are the recovery claims outcomes derive from
    fk = mapping_for("forsakringskassan")
    row = fk.outcome_event(
        random.Random(1), "recovery_claim", 123_456_00, DAY, region="mitt", operation="samverkan-mitt"
    )
    path = write_export(fk, [row], tmp_path)
    (item,) = read_file(path, native_format(fk))
    _, env = map_record(fk, item)
    assert isinstance(env.record, RecoveryClaim) and env.record.amount_ore == 123_456_00
