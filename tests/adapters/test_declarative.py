"""A network agency runs an adapter from a mapping file alone; a bad mapping file names its bad key."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from samband.adapters import MappingFileError, mapping_for, write_export
from samband.adapters._declarative import load_mapping
from samband.adapters._registry import MAPPINGS_DIR
from samband.broker_config import Agency, Deployment, builtin_agencies

from .._support import OPERATION, run_export

EXAMPLE = (MAPPINGS_DIR / "transportstyrelsen.toml").read_text(encoding="utf-8")


async def test_transportstyrelsen_publishes_overload_reports_from_its_mapping_file_with_no_code(tmp_path, export_dir):
    agencies = list(builtin_agencies().values()) + [
        Agency(slug="transportstyrelsen", name="Transportstyrelsen", tier="network")
    ]
    dep = Deployment(tmp_path / "state", agencies=agencies)
    dep.start()
    try:
        await dep.provision()
        mapping = mapping_for("transportstyrelsen")
        records = mapping.sample(random.Random("ts"), 8, operation=OPERATION)
        records[3]["Regnr"] = "IQV123"  # Swedish plates have no I, Q or V
        path = write_export(mapping, records, export_dir)
        summary, letters = await run_export(dep, "transportstyrelsen", path)
        again, _ = await run_export(dep, "transportstyrelsen", path)
    finally:
        dep.stop()
    assert (summary.read, summary.published, summary.dead_lettered) == (8, 7, 1)
    assert str(summary.rejected[0]) == (
        "Expected registration plate like ABC123 or ABC12D, got I***** of 6 characters - at `$.Regnr` in transportstyrelsen.csv:5"
    )
    assert [(d.kind, d.field) for d in letters] == [("identifier", "$.Regnr")]
    assert (again.published, again.duplicates) == (0, 7)


def test_the_example_mapping_reads_swedish_local_time_and_latin_1():
    mapping = mapping_for("transportstyrelsen")
    native = {
        "Protokollnr": "TS-1",
        "Vägd": "2017-03-03 21:15",
        "Plats": "Helsingborg",
        "Regnr": "abc 123",
        "Transportör": "",
        "Uppmätt vikt": "26 100",
        "Tillåten vikt": "24000",
        "Region": "syd",
        "Insats": "x",
    }
    env = mapping.to_envelope(native)
    assert env.record.weighed_at.isoformat() == "2017-03-03T21:15:00+01:00"
    assert (env.record.vehicle.plate, env.record.operator, env.record.measured_kg) == ("ABC123", None, 26100)
    assert mapping.native.encoding == "latin-1"


@pytest.mark.parametrize(
    "change,message",
    [
        (
            ('transform = "vehicle"', 'trasform = "vehicle"'),
            "Object contains unknown field `trasform` - at `$.fields.vehicle`",
        ),
        (
            ('transform = "integer"\n\n[fields.permitted_kg]', 'transform = "int"\n\n[fields.permitted_kg]'),
            "Expected transform one of ('text', 'integer', 'quantity', 'amount', 'boolean', 'date', 'datetime', 'person', "
            "'organisation', 'party', 'vehicle', 'choice', 'constant'), got 'int' - at `$.fields.measured_kg.transform`",
        ),
        (
            ("[fields.location]", "[fields.place]"),
            "Expected a field of police.overload_report ('report_id', 'weighed_at', 'location', 'vehicle', 'operator', "
            "'measured_kg', 'permitted_kg'), got `place` - at `$.fields.place`",
        ),
        (
            ('[fields.permitted_kg]\npath = "Tillåten vikt"\ntransform = "integer"', ""),
            "Expected a mapping for every required field of police.overload_report, got none for ['permitted_kg'] - at `$.fields`",
        ),
        (
            ('record_type = "police.overload_report"', 'record_type = "police.overload"'),
            "Expected record_type one of the shared record types, got 'police.overload' - at `$.record_type`",
        ),
        (
            ('region_path = "Region"', 'region = "skane"'),
            "Expected region one of ('nord', 'mitt', 'bergslagen', 'stockholm', 'ost', 'vast', 'syd', 'national'), "
            "got 'skane' - at `$.envelope.region`",
        ),
        (
            ('encoding = "latin-1"', 'encoding = "cp1252"'),
            "Expected encoding utf-8, utf-8-sig or latin-1, got 'cp1252' - at `$.format.encoding`",
        ),
        (
            ('name = "csv"', 'name = "xls"'),
            "Expected format name one of ('jsonl', 'json', 'xml', 'csv', 'fixed'), got 'xls' - at `$.format.name`",
        ),
        (
            ('"Regnr" = "plate"', '"Regnr" = "registration"'),
            "Expected a generator one of ('key', 'plate', 'orgnr', 'pnr', 'pnr12', 'datetime', 'date', 'int', 'kronor', "
            "'choice', 'const', 'region', 'operation'), got 'registration' - at `$.sample.Regnr`",
        ),
    ],
)
def test_a_bad_mapping_file_is_refused_naming_the_bad_key(tmp_path: Path, change, message):
    old, new = change
    assert old in EXAMPLE
    path = tmp_path / "transportstyrelsen.toml"
    path.write_text(EXAMPLE.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(MappingFileError) as err:
        load_mapping(path)
    assert str(err.value) == f"{message} in {path}"


def test_a_mapping_file_for_another_agency_is_refused(tmp_path: Path):
    path = tmp_path / "ts.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    with pytest.raises(MappingFileError) as err:
        mapping_for("bolagsverket", mapping_file=path)
    assert str(err.value) == f"Expected agency 'bolagsverket', got 'transportstyrelsen' - at `$.agency` in {path}"
