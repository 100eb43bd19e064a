"""Sources: a directory being written to, and a broker that goes away in the middle of a load."""

from __future__ import annotations

import asyncio
import random

from samband.adapters import Positions, mapping_for, native_format, publish_records, read_source
from samband.broker_config import ROUTER
from samband.schemas import ENVELOPE

from .._support import OPERATION, ingest_since, records_into, run_export, wait_for


async def test_new_files_in_a_watched_directory_are_picked_up_and_an_abandoned_tail_is_dead_lettered(bus, tmp_path):
    mapping = mapping_for("kustbevakningen")
    fmt = native_format(mapping)
    records = mapping.sample(random.Random("watched-dir"), 9, operation=OPERATION)
    watched = tmp_path / "incoming"
    watched.mkdir()
    (watched / "2017-03-03.jsonl").write_bytes(fmt.dump(records[:3]))
    state = tmp_path / "positions.json"
    positions = Positions(state)
    stop = asyncio.Event()
    settled: list = []  # each record once it is published or dead-lettered
    nc = await bus.connect("kustbevakningen")
    try:
        task = asyncio.create_task(
            publish_records(
                nc,
                mapping,
                read_source(watched, fmt, positions=positions, follow=True, stop=stop, poll=0.05, settle=0.2),
                positions=positions,
                window=1,
                progress=records_into(settled),
            )
        )
        await wait_for(lambda: len(settled) >= 3, what="the first day's file published")
        # the export job writes the next day's file and dies in the middle of its last line
        (watched / "2017-03-04.jsonl").write_bytes(fmt.dump(records[3:6]) + b'{"kontrollnummer": "KBV-')
        await wait_for(lambda: len(settled) >= 6, what="the second day's complete records published")
        assert len(settled) == 6  # its unfinished last line waits: the file may still grow
        (watched / "2017-03-05.jsonl").write_bytes(fmt.dump(records[6:]))
        await wait_for(lambda: len(settled) >= 10, what="the third day's records and the abandoned tail")
        stop.set()
        summary = await task
    finally:
        await nc.close()
    assert (summary.read, summary.published, summary.dead_lettered) == (10, 9, 1)
    rej = summary.rejected[0]
    assert (rej.kind, rej.position) == ("truncated", "2017-03-04.jsonl:4")
    saved = Positions(state)
    assert [
        saved.get(str((watched / n).resolve())).done
        for n in ("2017-03-03.jsonl", "2017-03-04.jsonl", "2017-03-05.jsonl")
    ] == [True, True, False]  # the newest file may still grow


async def test_a_json_document_is_read_whole_and_a_malformed_one_is_dead_lettered_as_one_file(bus, export_dir):
    mapping = mapping_for("migrationsverket")
    fmt = native_format(mapping)
    good = export_dir / "beslut-1.json"
    good.write_bytes(fmt.dump(mapping.sample(random.Random("json-doc"), 4, operation=OPERATION)))
    bad = export_dir / "beslut-2.json"
    bad.write_bytes(b'{"beslut": [{"beslutsId": "MIG-1", }]}')
    summary, letters = await run_export(bus, "migrationsverket", export_dir)
    assert (summary.read, summary.published, summary.dead_lettered) == (5, 4, 1)
    assert (
        str(summary.rejected[0])
        == "malformed JSON document: trailing comma in object at column 36 - at beslut-2.json:1"
    )
    assert [(d.kind, d.position) for d in letters] == [("syntax", "beslut-2.json:1")]


# Not marked `fault`: it takes seconds, and the default suite must catch a publisher that reorders.
async def test_records_published_while_the_broker_restarts_arrive_once_and_in_order(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    mapping = mapping_for("polisen")
    fmt = native_format(mapping)
    records = mapping.sample(random.Random("outage"), 400, operation=OPERATION)
    path = tmp_path / "polisen.jsonl"
    path.write_bytes(fmt.dump(records))

    down = asyncio.Event()
    settled: list = []

    async def slowly():
        """The export, the second half only once the broker is down: the outage lands mid-load."""
        n = 0
        async for item in read_source(path, fmt):
            if n == 200:
                await down.wait()
            yield item
            n += 1

    nc = await dep.connect("polisen")
    try:
        task = asyncio.create_task(
            publish_records(
                nc, mapping, slowly(), window=32, ack_timeout=1.0, retry_for=60, progress=records_into(settled)
            )
        )
        await wait_for(lambda: len(settled) >= 100, what="a quarter of the export published")
        dep.stop()  # the broker goes away mid-load ...
        down.set()
        await asyncio.sleep(1.5)  # the outage: the publisher retries against no broker
        dep.start()  # ... and comes back on the same port with the same store
        summary = await asyncio.wait_for(task, 60)
    finally:
        await nc.close()
    assert summary.read == 400 and summary.retries > 0
    assert summary.published + summary.duplicates == 400
    rc = await dep.connect(ROUTER)
    try:
        js = rc.jetstream()
        info = await js.stream_info("INGEST_polisen")
        assert info.state.messages == 400  # once each
    finally:
        await rc.close()
    ids = [ENVELOPE.decode(m.data).record.control_id for m in await ingest_since(dep, "polisen", 0, 400)]
    assert ids == [r["kontrollId"] for r in records]  # in the export's order


async def test_a_followed_export_publishes_a_last_partial_group_while_the_file_stays_quiet(bus, export_dir):
    """8 records, then the writer is quiet: they are published at once, not when 16 more arrive."""
    mapping = mapping_for("polisen")
    fmt = native_format(mapping)
    path = export_dir / "quiet.jsonl"
    path.write_bytes(fmt.dump(mapping.sample(random.Random("quiet"), 8, operation=OPERATION)))
    acked: list = []
    stop = asyncio.Event()
    nc = await bus.connect("polisen")
    try:
        task = asyncio.create_task(
            publish_records(
                nc, mapping, read_source(path, fmt, follow=True, stop=stop), window=256, progress=acked.append
            )
        )
        try:
            await wait_for(lambda: len(acked) == 8, timeout=20)  # the file stays quiet all along
        finally:
            stop.set()
            summary = await task
    finally:
        await nc.close()
    assert (summary.read, summary.published + summary.duplicates) == (8, 8)
