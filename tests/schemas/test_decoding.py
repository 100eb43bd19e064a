"""Strict decoding: whatever is wrong with the bytes, the reader gets one `DecodeError` that
names the record type, says what was expected and where, and never shows a personnummer."""

from __future__ import annotations

import copy
import json

import pytest

from samband.schemas import ENVELOPE, DecodeError, PersonRef, codec_for, encode

PNR = "198503121231"  # synthetic, valid check digit

BASE = {
    "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "region": "syd",
    "operation": "bacchus",
    "produced_at": "2024-05-02T06:00:00Z",
    "record": {
        "type": "police.vehicle_control",
        "control_id": "K-1",
        "controlled_at": "2024-05-02T05:40:00Z",
        "location": "Helsingborg",
        "vehicle": {"type": "vehicle", "plate": "ABC123"},
        "vehicle_kind": "bus",
        "driver": {"type": "person", "pnr": PNR},
    },
}


def _envelope(change) -> bytes:
    doc = copy.deepcopy(BASE)
    change(doc)
    return json.dumps(doc).encode()


def test_a_well_formed_envelope_decodes():
    env = ENVELOPE.decode(_envelope(lambda d: None))
    assert env.record_type == "police.vehicle_control"
    assert env.record.driver == PersonRef(pnr=PNR)


CASES = [
    (
        "an unknown record tag",
        lambda d: d["record"].update(type="police.vehicle_kontroll"),
        "envelope: Expected a known record type, got `police.vehicle_kontroll` - at `$.record.type`",
        "$.record.type",
        None,
    ),
    (
        "a wrong type",
        lambda d: d["record"].update(passengers="many"),
        "envelope (police.vehicle_control record): Expected `int`, got `str` - at `$.record.passengers`",
        "$.record.passengers",
        "police.vehicle_control",
    ),
    (
        "a missing field",
        lambda d: d["record"].pop("location"),
        "envelope (police.vehicle_control record): Object missing required field `location` - at `$.record`",
        "$.record",
        "police.vehicle_control",
    ),
    (
        "an unknown field",
        lambda d: d["record"].update(colour="red"),
        "envelope (police.vehicle_control record): Object contains unknown field `colour` - at `$.record`",
        "$.record",
        "police.vehicle_control",
    ),
    (
        "a personnummer with a bad check digit",
        lambda d: d["record"]["driver"].update(pnr="198503121235"),
        "envelope (police.vehicle_control record): Invalid personnummer 198503**-****: bad check digit - at `$.record.driver`",
        "$.record.driver",
        "police.vehicle_control",
    ),
    (
        "a personnummer on 30 February",
        lambda d: d["record"]["driver"].update(pnr="198502301231"),
        "envelope (police.vehicle_control record): Invalid personnummer 198502**-****: no such date - at `$.record.driver`",
        "$.record.driver",
        "police.vehicle_control",
    ),
    (
        "a personnummer not in canonical form",
        lambda d: d["record"]["driver"].update(pnr="19850312-1231"),
        "envelope (police.vehicle_control record): Expected personnummer in canonical form YYYYMMDDNNNC, got 198503**-**** - at `$.record.driver`",
        "$.record.driver",
        "police.vehicle_control",
    ),
    (
        "a personnummer of the wrong length",
        lambda d: d["record"]["driver"].update(pnr="19850312123"),
        "envelope (police.vehicle_control record): Expected personnummer of 10 or 12 digits (YYMMDD-NNNC or YYYYMMDDNNNC), "
        "got 1985**-**** of 11 characters - at `$.record.driver`",
        "$.record.driver",
        "police.vehicle_control",
    ),
    (
        "an organisationsnummer with a bad check digit",
        lambda d: d.update(subjects=[{"type": "organisation", "orgnr": "556677-8890"}]),
        "envelope (police.vehicle_control record): Invalid organisationsnummer 5566**-****: bad check digit - at `$.subjects[0]`",
        "$.subjects[0]",
        "police.vehicle_control",
    ),
    (
        "a plate ending in O",
        lambda d: d["record"]["vehicle"].update(plate="ABC12O"),
        "envelope (police.vehicle_control record): Expected registration plate like ABC123 or ABC12D, got A***** of 6 characters - at `$.record.vehicle`",
        "$.record.vehicle",
        "police.vehicle_control",
    ),
    (
        "an unknown subject tag",
        lambda d: d.update(subjects=[{"type": "persona", "pnr": PNR}]),
        "envelope (police.vehicle_control record): Expected a known tag, got `persona` - at `$.subjects[0].type`",
        "$.subjects[0].type",
        "police.vehicle_control",
    ),
    (
        "a personnummer where a region belongs",
        lambda d: d.update(region=PNR),
        "envelope (police.vehicle_control record): Invalid enum value '198503**-****' - at `$.region`",
        "$.region",
        "police.vehicle_control",
    ),
    (
        "another major version of the envelope",
        lambda d: d.update(schema="samband.envelope/2"),
        "envelope (police.vehicle_control record): Expected schema `samband.envelope/1`, got `samband.envelope/2` - at `$`",
        "$",
        "police.vehicle_control",
    ),
    (
        "an intelligence note without named recipients",
        lambda d: d.update(
            record={
                "type": "security.intelligence_note",
                "note_id": "N-1",
                "written_on": "2024-05-01",
                "classification": "hemlig",
                "summary": "-",
            }
        ),
        "envelope (security.intelligence_note record): Expected handling.named_recipients on a security.intelligence_note "
        "(always handling-restricted), got none - at `$`",
        "$",
        "security.intelligence_note",
    ),
]


@pytest.mark.parametrize("what,change,message,path,record_type", CASES, ids=[c[0] for c in CASES])
def test_an_envelope_with_a_fault_is_refused_naming_type_path_and_expectation(what, change, message, path, record_type):
    with pytest.raises(DecodeError) as err:
        ENVELOPE.decode(_envelope(change))
    assert str(err.value) == message
    assert (err.value.schema, err.value.path, err.value.record_type) == ("envelope", path, record_type)
    assert PNR not in str(err.value) and PNR[2:] not in str(err.value)


def test_bytes_that_are_not_json_are_refused_with_the_schema_named():
    with pytest.raises(DecodeError) as err:
        ENVELOPE.decode(b'{"id": "x", "record": {"type"')
    assert str(err.value) == "envelope: Input data was truncated"


def test_a_bare_record_is_refused_under_its_own_type_name():
    codec = codec_for("benefit.recovery_claim")
    good = {
        "type": "benefit.recovery_claim",
        "claim_id": "C-1",
        "decided_on": "2024-01-31",
        "person": {"type": "person", "pnr": PNR},
        "benefit": "bostadsbidrag",
        "amount_ore": 1250000,
    }
    assert codec.decode(encode(codec.decode(json.dumps(good).encode()))).amount_ore == 1250000
    with pytest.raises(DecodeError) as err:
        codec.decode(json.dumps({**good, "amount_ore": 12500.5}).encode())
    assert str(err.value) == "benefit.recovery_claim: Expected `int`, got `float` - at `$.amount_ore`"


@pytest.mark.parametrize(
    "record,message",
    [
        (
            {
                "type": "outcome",
                "agency": "skatteverket",
                "region": "mitt",
                "category": "höjd skatt",
                "amount_ore": 6300000000,
                "period_from": "2020-12-31",
                "period_to": "2020-01-01",
            },
            "envelope (outcome record): Expected `period_to` on or after `period_from` (2020-12-31), got 2020-01-01 - at `$.record`",
        ),
        (
            {
                "type": "council.cooption_decision",
                "grant_id": "g-1",
                "agency": "transportstyrelsen",
                "operation": "bacchus",
                "record_types": ["police.overload_report"],
                "fields": ["vehicle"],
                "valid_from": "2024-05-01T00:00:00Z",
                "valid_to": "2024-05-01T00:00:00Z",
                "decided_by": "rsr-syd",
                "reason": "överlast",
                "legal_basis": "OSL 10:28",
            },
            "envelope (council.cooption_decision record): Expected `valid_to` after `valid_from` (2024-05-01T00:00:00+00:00), "
            "got 2024-05-01T00:00:00+00:00 - at `$.record`",
        ),
        (
            {
                "type": "council.cooption_decision",
                "grant_id": "g-1",
                "agency": "transportstyrelsen",
                "operation": "bacchus",
                "record_types": ["police.overload_report"],
                "fields": ["vehicle"],
                "valid_from": "2024-05-01T00:00:00",
                "valid_to": "2024-06-01T00:00:00Z",
                "decided_by": "rsr-syd",
                "reason": "överlast",
                "legal_basis": "OSL 10:28",
            },
            # a time on the bus carries its offset (the exported schema says `format: date-time`)
            "envelope (council.cooption_decision record): Expected `datetime` with a timezone component "
            "- at `$.record.valid_from`",
        ),
    ],
    ids=["outcome period reversed", "grant ends as it starts", "grant with a time without a time zone"],
)
def test_a_period_that_ends_before_it_starts_is_refused(record, message):
    with pytest.raises(DecodeError) as err:
        ENVELOPE.decode(_envelope(lambda d: d.update(record=record)))
    assert str(err.value) == message
