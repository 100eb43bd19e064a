"""An agency's credentials consume its own INBOX and DEADLETTER and change nothing of JetStream:
no stream created, updated, purged or deleted, not even its own; its adapter's verbs still work."""

from __future__ import annotations

import asyncio
import random

import nats
from nats.js.api import DeliverPolicy

from samband.adapters import InboxSink, consume_inbox, list_dead_letters
from samband.broker_config import ROUTER, agency_steward

from .._support import wait_for
from ._records import vehicle_control_bytes


async def refused(bus, identity: str, subjects: list[str], body: bytes = b"{}") -> None:
    """``identity`` publishes ``body`` to each of ``subjects``; the server refuses every one, and the
    connection stays up."""
    errors: list[str] = []

    async def cb(exc):
        errors.append(str(exc))

    nc: nats.NATS = await bus.connect(identity, error_cb=cb)
    try:
        for s in subjects:
            await nc.publish(s, body, reply=nc.new_inbox())
        await nc.flush()
        await wait_for(lambda: len(errors) >= len(subjects), timeout=5)
        assert sorted(errors) == sorted(f'nats: permissions violation for publish to "{s.lower()}"' for s in subjects)
        assert nc.is_connected
    finally:
        await nc.close()


async def test_an_agency_may_not_create_update_purge_or_delete_any_stream_not_even_its_own(bus):
    apis = [
        "$JS.API.STREAM.CREATE.MINE",
        "$JS.API.STREAM.UPDATE.INBOX",
        "$JS.API.STREAM.UPDATE.DEADLETTER",
        "$JS.API.STREAM.PURGE.INBOX",
        "$JS.API.STREAM.DELETE.INBOX",
        "$JS.API.STREAM.MSG.DELETE.DEADLETTER",
    ]
    await refused(bus, "skatteverket", apis, b'{"name": "INBOX", "max_msgs": 1}')
    # the operators' identity in its account may change its streams (and provisioning uses it)
    steward = await bus.connect(agency_steward("skatteverket"))
    try:
        info = await steward.jetstream().stream_info("INBOX")
        assert (await steward.jetstream().update_stream(info.config)).config.name == "INBOX"
    finally:
        await steward.close()


async def test_an_agency_still_reads_its_inbox_and_dead_letters_with_its_own_credentials(bus, tmp_path):
    router = await bus.connect(ROUTER)
    env, data = vehicle_control_bytes(random.Random(4242))
    try:
        # a delivery as the router makes it, into Tullverket's inbox
        await router.jetstream().publish(
            "inbox.tullverket.police.vehicle_control", data, headers={"Nats-Msg-Id": f"{env.id}:tullverket"}
        )
    finally:
        await router.close()
    nc = await bus.connect("tullverket")
    stop = asyncio.Event()
    sink = InboxSink(tmp_path / "tullverket.jsonl")
    try:
        js = nc.jetstream()
        assert (await js.stream_info("INBOX")).config.name == "INBOX"
        assert (await js.stream_info("DEADLETTER")).config.name == "DEADLETTER"
        task = asyncio.create_task(consume_inbox(nc, "tullverket", sink, stop))  # its durable consumer
        await wait_for(lambda: env.id in sink, timeout=10)
        stop.set()
        await task
        sub = await js.subscribe("in.>", stream="INBOX", ordered_consumer=True, deliver_policy=DeliverPolicy.LAST)
        assert (await sub.next_msg(timeout=5)).subject == "in.police.vehicle_control"
        await sub.unsubscribe()
        await list_dead_letters(nc)  # reads its DEADLETTER (whatever it holds)
    finally:
        sink.close()
        await nc.close()
    assert (tmp_path / "tullverket.jsonl").stat().st_mode & 0o777 == 0o600


async def test_an_agency_cannot_read_the_routers_streams_or_another_agencys(bus):
    subjects = [
        "$JS.API.STREAM.INFO.INGEST_tullverket",
        "$JS.API.DIRECT.GET.KV_LEDGER.$KV.LEDGER.x",
        "$JS.API.CONSUMER.CREATE.PARKED",
        "$JS.API.STREAM.MSG.GET.QUARANTINE",
    ]
    await refused(bus, "polisen", subjects)
