"""Traced JetStream publishing (`AckPipeline`), against the real nats-server: every publish gets
its server's answer (an ack, a refusal or a timeout), in the order sent, and nothing is sent
that could reach the stream out of order or break the connection."""

from __future__ import annotations

import asyncio
import random

import pytest
from nats.errors import MaxPayloadError, NoRespondersError
from nats.js.api import StorageType, StreamConfig

from samband.broker_config import ROUTER
from samband.observability import AckPipeline, NotConnected, PublishRefused

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


STREAM = "PUBLISHING_TESTS"  # one stream for this module (the router may not delete streams); subjects per test


async def _stream(bus) -> tuple:
    nc = await bus.connect(ROUTER)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["pub.>"], storage=StorageType.MEMORY))  # idempotent
    return nc, js, STREAM


def _root() -> str:
    return f"pub.{random.getrandbits(40):x}"


async def test_a_batch_of_appends_gets_one_ack_each_in_the_order_sent(bus):
    nc, js, name = await _stream(bus)
    acks = AckPipeline(nc)
    root = _root()
    try:
        items = [(f"{root}.r", f"record {i}".encode(), {"Nats-Msg-Id": f"{root}-{i}"}) for i in range(300)]
        results = await acks.publish(items, timeout=10)
        first = results[0].seq
        assert [r.seq for r in results] == list(range(first, first + 300))
        assert all(r.stream == name and not r.duplicate for r in results)
        again = await acks.publish(items[:2], timeout=10)  # the same ids again: the stream's dedupe answers
        assert [r.duplicate for r in again] == [True, True]
    finally:
        await acks.close()
        await nc.close()

async def test_an_append_after_the_wrong_sequence_is_refused_with_the_servers_reason_not_a_timeout(bus):
    nc, js, name = await _stream(bus)
    acks = AckPipeline(nc)
    root = _root()
    try:
        last = (await js.stream_info(name)).state.last_seq
        items = [(f"{root}.r", b"x", {"Nats-Expected-Last-Sequence": str(i)}) for i in (last, last + 1, last + 5)]
        first, second, third = await acks.publish(items, timeout=10)
        assert (first.seq, second.seq) == (last + 1, last + 2)
        assert isinstance(third, PublishRefused)
        assert str(third) == f"wrong last sequence: {last + 2} (code 400, err_code 10071)"
    finally:
        await acks.close()
        await nc.close()

async def test_a_publish_no_stream_listens_to_is_answered_no_responders_at_once(bus):
    nc = await bus.connect(ROUTER)
    acks = AckPipeline(nc)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        (result,) = await acks.publish([(f"nobody.{random.getrandbits(40):x}", b"x", {})], timeout=10)
        assert isinstance(result, NoRespondersError)
        assert loop.time() - t0 < 5  # an answer, not the timeout
    finally:
        await acks.close()
        await nc.close()

async def test_a_batch_that_cannot_be_sent_is_answered_with_the_error_for_each_record_in_order(bus):
    nc = await bus.connect(ROUTER)
    acks = AckPipeline(nc)
    await acks.start()
    await nc.close()  # the connection is gone: nothing can be sent, nothing may be lost silently
    results = await acks.publish([(f"pub.closed.{i}", b"x", {}) for i in range(3)], timeout=5)
    assert [type(r).__name__ for r in results] == ["ConnectionClosedError"] * 3


async def test_slices_sent_one_after_another_are_stored_in_the_order_sent(bus):
    nc, js, name = await _stream(bus)
    acks = AckPipeline(nc)
    root = _root()
    try:
        batch = await acks.open()
        for start in range(0, 100, 16):  # as an adapter sends while it maps the next records
            await acks.send(batch, [(f"{root}.r", str(i).encode(), {"Nats-Msg-Id": f"{root}-{i}"})
                                    for i in range(start, min(start + 16, 100))])
        results = await acks.wait(batch, timeout=10)
        assert [r.seq for r in results] == list(range(results[0].seq, results[0].seq + 100))
        sub = await js.subscribe(f"{root}.r", ordered_consumer=True)
        stored = [int((await sub.next_msg(timeout=5)).data) for _ in range(100)]
        assert stored == list(range(100))
    finally:
        await acks.close()
        await nc.close()


async def test_a_header_value_with_a_line_break_cannot_add_a_header(bus):
    nc, js, name = await _stream(bus)
    acks = AckPipeline(nc)
    root = _root()
    try:
        (ack,) = await acks.publish([(f"{root}.r", b"x", {"Nats-Msg-Id": f"{root}-a\r\nNats-Expected-Stream: NOPE"})], timeout=10)
        assert not isinstance(ack, BaseException) and ack.stream == name
        msg = await js.get_msg(name, ack.seq)
        assert msg.headers == {"Nats-Msg-Id": f"{root}-a  Nats-Expected-Stream: NOPE"}  # as nats-py sends it
    finally:
        await acks.close()
        await nc.close()


async def test_an_oversized_message_is_answered_max_payload_and_the_rest_of_the_batch_is_stored(bus):
    nc, js, name = await _stream(bus)
    acks = AckPipeline(nc)
    root = _root()
    try:
        big = b"x" * (nc.max_payload + 1)
        first, too_big, last = await acks.publish([(f"{root}.r", b"1", None), (f"{root}.r", big, None),
                                                   (f"{root}.r", b"3", None)], timeout=10)
        assert isinstance(too_big, MaxPayloadError)
        assert last.seq == first.seq + 1 and nc.is_connected  # the server never saw it: no broken connection
    finally:
        await acks.close()
        await nc.close()


async def test_nothing_is_sent_while_disconnected_each_message_is_answered_not_connected(fresh_deployment):
    await fresh_deployment.provision()
    nc = await fresh_deployment.connect(ROUTER)
    acks = AckPipeline(nc)
    await acks.start()
    fresh_deployment.stop()
    try:
        for _ in range(100):
            if not nc.is_connected:
                break
            await asyncio.sleep(0.05)
        results = await acks.publish([(f"ingest.polisen.x.{i}", b"x", {}) for i in range(3)], timeout=5)
        assert [str(r) for r in results] == ["not connected to the broker"] * 3
        assert all(isinstance(r, NotConnected) for r in results)
        assert nc._pending_data_size == 0  # nothing buffered to be sent ahead of a retry on reconnect
    finally:
        await nc.close()
