"""The inbound side: delivered records reach the agency's sink once, each with a receipt for the audit."""

from __future__ import annotations

import asyncio
import hashlib
import random

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy

from samband.adapters import InboxSink, consume_inbox, mapping_for
from samband.broker_config import ROUTER
from samband.schemas import Receipt, encode

from .._support import OPERATION

AGENCY = "kustbevakningen"


async def deliver(bus, envelopes, *, suffix: str = "") -> None:
    """What the router does: publish into the agency's inbox (its PubAck comes from the agency's INBOX stream)."""
    nc = await bus.connect(ROUTER)
    try:
        js = nc.jetstream()
        for env in envelopes:
            await js.publish(
                f"inbox.{AGENCY}.{env.record_type}", encode(env), headers={"Nats-Msg-Id": f"{env.id}:{AGENCY}{suffix}"}
            )
    finally:
        await nc.close()


async def receipts_after(bus, seq: int) -> list:
    nc = await bus.connect(ROUTER)
    try:
        js = nc.jetstream()
        info = await js.stream_info("RECEIPTS")
        if info.state.last_seq <= seq:
            return []
        sub = await js.subscribe(
            f"receipt.{AGENCY}.>",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=seq + 1),
        )
        out = [await sub.next_msg(timeout=5) for _ in range(info.state.last_seq - seq)]
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def receipts_last_seq(bus) -> int:
    nc = await bus.connect(ROUTER)
    try:
        return (await nc.jetstream().stream_info("RECEIPTS")).state.last_seq
    finally:
        await nc.close()


async def run_sink(bus, sink: InboxSink) -> int:
    """Run the agency's inbox consumer until everything in its inbox is acknowledged."""
    nc = await bus.connect(AGENCY)
    stop = asyncio.Event()
    task = asyncio.create_task(consume_inbox(nc, AGENCY, sink, stop, receipts=True))
    js = nc.jetstream()
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            try:
                info = await js.consumer_info("INBOX", f"{AGENCY}-sink")
            except Exception:
                continue
            if info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0:
                break
        else:
            raise AssertionError("the inbox was not drained within 10s")
    finally:
        stop.set()
        written = await task
        await nc.close()
    return written


async def test_a_delivered_record_is_written_once_and_receipted_even_when_delivered_again_after_a_restart(
    bus, tmp_path
):
    mapping = mapping_for(AGENCY)
    envs = [mapping.to_envelope(n) for n in mapping.sample(random.Random("inbound"), 5, operation=OPERATION)]
    before = await receipts_last_seq(bus)
    path = tmp_path / "received" / f"{AGENCY}.jsonl"
    await deliver(bus, envs)
    sink = InboxSink(path)
    assert await run_sink(bus, sink) == 5
    sink.close()
    first = await receipts_after(bus, before)

    # the router delivers the same records again (e.g. after losing its dedupe window); the sink restarted
    await deliver(bus, envs[:2], suffix=":again")
    sink = InboxSink(path)
    seq = await receipts_last_seq(bus)
    written = await run_sink(bus, sink)
    sink.close()
    assert written == 0
    lines = path.read_bytes().splitlines()
    assert sorted(msgspec.json.decode(line)["id"] for line in lines) == sorted(e.id for e in envs)

    assert [m.subject for m in first] == [f"receipt.{AGENCY}.written"] * 5
    receipts = {r.envelope_id: r for r in (msgspec.json.decode(m.data, type=Receipt) for m in first)}
    assert {m.headers["Nats-Msg-Id"] for m in first} == {f"{e.id}:{AGENCY}" for e in envs}
    by_id = {msgspec.json.decode(line)["id"]: line for line in lines}
    for env_id, r in receipts.items():
        assert r.recipient == AGENCY and r.sha256 == hashlib.sha256(by_id[env_id]).hexdigest()
    # the second delivery was receipted again with the same msg id: the RECEIPTS stream dropped the duplicates
    assert await receipts_last_seq(bus) == seq
