"""The outbound side on the real broker: each agency's export reaches INGEST once, resumes after a restart."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from samband.adapters import (
    CORE_AGENCIES,
    Positions,
    mapping_for,
    native_format,
    publish_records,
    read_source,
    write_export,
)
from samband.schemas import ENVELOPE

from .._support import OPERATION, ingest_last_seq, ingest_since, records_into, run_export, wait_for


@pytest.mark.parametrize("agency", CORE_AGENCIES)
async def test_each_core_agencys_synthetic_export_reaches_ingest_once_under_its_own_name(bus, export_dir, agency):
    mapping = mapping_for(agency)
    records = mapping.sample(random.Random(f"happy-{agency}"), 12, operation=OPERATION)
    path = write_export(mapping, records, export_dir)
    before = await ingest_last_seq(bus, agency)
    summary, letters = await run_export(bus, agency, path)
    assert (summary.read, summary.published, summary.duplicates, summary.dead_lettered) == (12, 12, 0, 0), [
        str(r) for r in summary.rejected
    ]
    assert letters == []
    msgs = await ingest_since(bus, agency, before, 12)
    # the origin is the server-side subject token, the dedupe id the native key
    assert {m.subject.split(".")[1] for m in msgs} == {agency}
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [f"{agency}:{mapping.key(r)}" for r in records]
    envs = [ENVELOPE.decode(m.data) for m in msgs]
    assert all(m.subject == f"ingest.{agency}.{e.record_type}" for m, e in zip(msgs, envs))
    assert {(e.operation, e.region) for e in envs} == {(OPERATION, "syd")}
    assert all(e.subjects for e in envs)  # every record names whom it is about


async def test_two_seeds_give_different_native_keys_for_every_agency():
    for agency in CORE_AGENCIES:
        mapping = mapping_for(agency)
        a = {mapping.key(r) for r in mapping.sample(random.Random(1), 20, operation=OPERATION)}
        b = {mapping.key(r) for r in mapping.sample(random.Random(2), 20, operation=OPERATION)}
        assert len(a) == 20 and not a & b, agency


async def test_re_reading_an_xml_export_publishes_nothing_twice(bus, export_dir):
    mapping = mapping_for("tullverket")
    path = write_export(mapping, mapping.sample(random.Random("reread-xml"), 9, operation=OPERATION), export_dir)
    first, _ = await run_export(bus, "tullverket", path)
    again, _ = await run_export(bus, "tullverket", path)
    assert (first.published, first.duplicates) == (9, 0)
    assert (again.read, again.published, again.duplicates) == (9, 0, 9)


async def test_a_restarted_adapter_continues_after_the_last_acknowledged_record(bus, export_dir, tmp_path):
    mapping = mapping_for("forsakringskassan")
    path = write_export(mapping, mapping.sample(random.Random("resume-csv"), 700, operation=OPERATION), export_dir)
    state = tmp_path / "positions.json"

    async def stopped_after(n: int):
        """The adapter is stopped (Ctrl-C) after reading n records."""
        seen = 0
        async for item in read_source(path, native_format(mapping), positions=Positions(state)):
            yield item
            seen += 1
            if seen == n:
                return

    nc = await bus.connect("forsakringskassan")
    try:
        first = await publish_records(nc, mapping, stopped_after(300), positions=Positions(state), window=64)
        positions = Positions(state)  # a new process: only what is on disk
        second = await publish_records(
            nc, mapping, read_source(path, native_format(mapping), positions=positions), positions=positions, window=64
        )
        third_positions = Positions(state)
        third = await publish_records(
            nc, mapping, read_source(path, native_format(mapping), positions=third_positions), positions=third_positions
        )
    finally:
        await nc.close()
    assert (first.read, first.published) == (300, 300)
    assert (second.read, second.published, second.duplicates) == (400, 400, 0)
    assert (third.read, third.published) == (0, 0)  # finished: nothing re-read
    assert Positions(state).get(str(Path(path).resolve())).line == 702  # header + 700 records


async def test_records_appended_to_a_followed_file_are_published_as_they_arrive(bus, export_dir, tmp_path):
    import asyncio

    mapping = mapping_for("polisen")
    fmt = native_format(mapping)
    records = mapping.sample(random.Random("follow-jsonl"), 6, operation=OPERATION)
    path = export_dir / "polisen.jsonl"
    data = fmt.dump(records)
    half = data.index(b"\n", len(data) // 2) + 1
    path.write_bytes(data[:half] + data[half : half + 20])  # the writer is in the middle of a line
    stop = asyncio.Event()
    settled: list = []  # each record once it is published (or dead-lettered)
    nc = await bus.connect("polisen")
    try:
        task = asyncio.create_task(
            publish_records(
                nc,
                mapping,
                read_source(path, fmt, follow=True, stop=stop, poll=0.05),
                window=1,
                progress=records_into(settled),
            )
        )
        await wait_for(lambda: len(settled) >= data[:half].count(b"\n"), what="the complete lines published")
        assert len(settled) == data[:half].count(b"\n")  # the line being written is not read yet
        with open(path, "ab") as f:
            f.write(data[half + 20 :])
        await wait_for(lambda: len(settled) >= 6, what="the rest published as it arrives")
        stop.set()
        summary = await task
    finally:
        await nc.close()
    assert (summary.read, summary.published, summary.dead_lettered) == (6, 6, 0)
