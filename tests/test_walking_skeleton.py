"""The walking skeleton: Polisen's export to Skatteverket's inbox, audited first, on a real nats-server."""

from __future__ import annotations

import hashlib
import random

import msgspec
import pytest

from samband._platform import Platform
from samband.adapters import publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.observability import Pseudonymiser, load_or_create_key
from samband.schemas import ENVELOPE
from samband.testing import skeleton_policy

from ._support import audit_entry_with_time, wait_for


def write_export(path, records, *, broken_after: int | None = None) -> None:
    with open(path, "wb") as f:
        for i, rec in enumerate(records):
            f.write(msgspec.json.encode(rec) + b"\n")
            if i == broken_after:
                f.write(b'{"kontrollId": "PM-BROKEN", \n')


async def test_a_polisen_vehicle_control_reaches_skatteverkets_sink_audited_before_delivery(bus, tmp_path):
    native = polisen.sample(random.Random(7), 3, operation="bacchus-2017")
    export = tmp_path / "polisen.jsonl"
    write_export(export, native)
    platform = Platform(bus, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    nc = await bus.connect("polisen")
    try:
        summary = await publish_records(nc, polisen, read_jsonl(export))
        assert (summary.read, summary.published, len(summary.rejected)) == (3, 3, 0)
        await wait_for(lambda: len(sink) >= 3)
    finally:
        await nc.close()
        await platform.stop()

    lines = sink.path.read_bytes().splitlines()
    received = {env.record.control_id: env for env in map(ENVELOPE.decode, lines)}
    first = received[native[0]["kontrollId"]]
    assert first.origin == "polisen"  # set by the router from the account
    assert first.record.location == native[0]["plats"]
    assert first.record.passengers == native[0]["antalPassagerare"]
    assert first.record.vehicle.plate == native[0]["regnr"]
    assert first.operation == "bacchus-2017" and first.region == "syd"

    audit, audit_time = await audit_entry_with_time(bus, first.id, "skatteverket")
    sc = await bus.connect("skatteverket")
    try:
        sjs = sc.jetstream()
        inbox_msg = None
        info = await sjs.stream_info("INBOX")
        for seq in range(info.state.last_seq, 0, -1):
            m = await sjs.get_msg("INBOX", seq)
            if ENVELOPE.decode(m.data).id == first.id:
                inbox_msg = m
                break
        assert inbox_msg is not None
    finally:
        await sc.close()
    assert audit.decision == "allow" and audit.rule == "bacchus-2017/skeleton.vehicle-control.skatteverket"
    assert audit.legal_basis == "LUS 2016:774" and audit.purpose == "tax_control"
    # the audit record names the exact bytes that were delivered ...
    assert audit.delivered_sha256 == hashlib.sha256(inbox_msg.data).hexdigest()
    # ... and was stored before them (both timestamps come from the same server clock)
    assert audit_time <= inbox_msg.time
    # the driver appears in the trail only as the keyed pseudonym
    pseudonym = Pseudonymiser(load_or_create_key(bus.state_dir / "keys" / "pseudonym.key"))
    assert pseudonym(first.record.driver.pnr) in audit.subjects
    assert first.record.driver.pnr not in msgspec.json.encode(audit).decode()


async def test_a_malformed_line_in_the_polisen_export_is_counted_and_reported_with_its_line_number(bus, tmp_path):
    export = tmp_path / "polisen.jsonl"
    write_export(export, polisen.sample(random.Random(8), 4), broken_after=1)
    nc = await bus.connect("polisen")
    try:
        summary = await publish_records(nc, polisen, read_jsonl(export))
    finally:
        await nc.close()
    assert summary.read == 5 and summary.published == 4
    assert [(r.position, r.reason) for r in summary.rejected] == [
        ("polisen.jsonl:3", "malformed JSON: Input data was truncated")
    ]


async def test_re_reading_the_same_export_creates_no_second_record(bus, tmp_path):
    export = tmp_path / "polisen.jsonl"
    write_export(export, polisen.sample(random.Random(9), 5))
    nc = await bus.connect("polisen")
    try:
        first = await publish_records(nc, polisen, read_jsonl(export))
        again = await publish_records(nc, polisen, read_jsonl(export))
    finally:
        await nc.close()
    assert (first.published, first.duplicates) == (5, 0)
    assert (again.published, again.duplicates) == (0, 5)


@pytest.mark.parametrize(
    "field,value,message",
    [
        (
            "regnr",
            "IQV123",
            "Expected registration plate like ABC123 or ABC12D, got I***** of 6 characters - at `$.regnr` in polisen.jsonl:1",
        ),
        (
            "forare",
            {"personnummer": "850230-1234"},
            "Invalid personnummer 198502**-****: no such date - at `$.forare.personnummer` in polisen.jsonl:1",
        ),
    ],
)
async def test_a_record_with_a_bad_identifier_is_rejected_naming_the_field_and_line(
    bus, tmp_path, field, value, message
):
    rec = polisen.sample(random.Random(10), 1)[0] | {field: value}
    export = tmp_path / "polisen.jsonl"
    write_export(export, [rec])
    nc = await bus.connect("polisen")
    try:
        summary = await publish_records(nc, polisen, read_jsonl(export))
    finally:
        await nc.close()
    assert summary.published == 0
    assert str(summary.rejected[0]) == message
