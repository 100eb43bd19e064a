"""Traced JetStream publishing (`AckPipeline`), against the real nats-server: every publish gets
its server's answer (an ack, a refusal or a timeout), in the order sent, and nothing is sent
that could reach the stream out of order or break the connection."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest
import pytest_asyncio

from samband.broker_config import ROUTER
from samband.observability.bus import (
    AckPipeline,
    ConnectionClosed,
    NoAnswer,
    NoStream,
    NotConnected,
    NotSendable,
    PublishError,
    PublishRefused,
)

from .._support import fresh_subject, scratch_stream, wait_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


STREAM = "PUBLISHING_TESTS"  # one stream for this module (the router may not delete streams); subjects per test


@pytest_asyncio.fixture(loop_scope="session")
async def pub(bus):
    """A pipeline on the router's connection, the module's stream, and a subject of the test's own."""
    nc, js = await scratch_stream(bus, STREAM, "pub")
    acks = AckPipeline(nc)
    try:
        yield SimpleNamespace(nc=nc, js=js, acks=acks, subject=fresh_subject("pub") + ".r")
    finally:
        await acks.close()
        await nc.close()


async def test_a_batch_of_appends_gets_one_ack_each_in_the_order_sent(pub):
    items = [(pub.subject, f"record {i}".encode(), {"Nats-Msg-Id": f"{pub.subject}-{i}"}) for i in range(300)]
    results = await pub.acks.publish(items, timeout=10)
    first = results[0].seq
    assert [r.seq for r in results] == list(range(first, first + 300))
    assert all(r.stream == STREAM and not r.duplicate for r in results)
    again = await pub.acks.publish(items[:2], timeout=10)  # the same ids again: the stream's dedupe answers
    assert [r.duplicate for r in again] == [True, True]


async def test_an_append_after_the_wrong_sequence_is_refused_with_the_servers_reason_not_a_timeout(pub):
    last = (await pub.js.stream_info(STREAM)).state.last_seq
    items = [(pub.subject, b"x", {"Nats-Expected-Last-Sequence": str(i)}) for i in (last, last + 1, last + 5)]
    first, second, third = await pub.acks.publish(items, timeout=10)
    assert (first.seq, second.seq) == (last + 1, last + 2)
    assert isinstance(third, PublishRefused)
    assert str(third) == f"wrong last sequence: {last + 2} (code 400, err_code 10071)"


async def test_a_publish_no_stream_listens_to_is_answered_no_responders_at_once(pub):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    subject = f"nobody.{random.getrandbits(40):x}"
    (result,) = await pub.acks.publish([(subject, b"x", {})], timeout=10)
    assert isinstance(result, NoStream) and isinstance(result, ConnectionError)  # retried like any lost publish
    assert str(result) == f"Expected a stream on `{subject}`, got no responders"
    assert loop.time() - t0 < 5  # an answer, not the timeout


async def test_a_message_the_stream_does_not_answer_in_time_is_answered_no_answer(pub):
    # a reply subject nobody answers on: a core subscription takes the message and stays silent
    silent = fresh_subject("silent")
    sub = await pub.nc.subscribe(silent)
    try:
        (result,) = await pub.acks.publish([(silent, b"x", None)], timeout=0.3)
    finally:
        await sub.unsubscribe()
    assert isinstance(result, NoAnswer) and isinstance(result, TimeoutError) and isinstance(result, PublishError)
    assert str(result) == "Expected an answer from the stream within 0.3 s, got none"


async def test_slices_sent_one_after_another_are_stored_in_the_order_sent(pub):
    batch = await pub.acks.open()
    for start in range(0, 100, 16):  # as an adapter sends while it maps the next records
        await pub.acks.send(
            batch,
            [
                (pub.subject, str(i).encode(), {"Nats-Msg-Id": f"{pub.subject}-{i}"})
                for i in range(start, min(start + 16, 100))
            ],
        )
    results = await pub.acks.wait(batch, timeout=10)
    assert [r.seq for r in results] == list(range(results[0].seq, results[0].seq + 100))
    sub = await pub.js.subscribe(pub.subject, ordered_consumer=True)
    stored = [int((await sub.next_msg(timeout=5)).data) for _ in range(100)]
    assert stored == list(range(100))


async def test_a_header_value_with_a_line_break_cannot_add_a_header(pub):
    msg_id = f"{pub.subject}-a\r\nNats-Expected-Stream: NOPE"
    (ack,) = await pub.acks.publish([(pub.subject, b"x", {"Nats-Msg-Id": msg_id})], timeout=10)
    assert not isinstance(ack, BaseException) and ack.stream == STREAM
    msg = await pub.js.get_msg(STREAM, ack.seq)
    assert msg.headers == {"Nats-Msg-Id": f"{pub.subject}-a  Nats-Expected-Stream: NOPE"}  # as nats-py sends it


async def test_an_oversized_message_is_answered_max_payload_and_the_rest_of_the_batch_is_stored(pub):
    big = b"x" * (pub.nc.max_payload + 1)
    first, too_big, last = await pub.acks.publish(
        [(pub.subject, b"1", None), (pub.subject, big, None), (pub.subject, b"3", None)], timeout=10
    )
    assert isinstance(too_big, NotSendable)
    assert str(too_big) == (
        f"Expected at most {pub.nc.max_payload} bytes (the server's max_payload), "
        f"got {pub.nc.max_payload + 1} - at `{pub.subject}`"
    )
    assert last.seq == first.seq + 1 and pub.nc.is_connected  # the server never saw it: no broken connection


async def test_a_subject_that_would_inject_protocol_is_refused_and_the_rest_of_the_batch_is_stored(pub):
    first, bad, last = await pub.acks.publish(
        [(pub.subject, b"1", None), (pub.subject + "\r\nPUB x 0", b"2", None), (pub.subject, b"3", None)], timeout=10
    )
    assert isinstance(bad, NotSendable)
    assert str(bad) == f"Expected a subject without whitespace, got {pub.subject + chr(13) + chr(10) + 'PUB x 0'!r}"
    assert last.seq == first.seq + 1 and pub.nc.is_connected


async def test_a_batch_that_cannot_be_sent_is_answered_with_the_error_for_each_record_in_order(bus):
    nc = await bus.connect(ROUTER)
    acks = AckPipeline(nc)
    await acks.start()
    await nc.close()  # the connection is gone: nothing can be sent, nothing may be lost silently
    results = await acks.publish([(f"pub.closed.{i}", b"x", {}) for i in range(3)], timeout=5)
    assert all(isinstance(r, ConnectionClosed) for r in results) and len(results) == 3
    assert str(results[0]) == "Expected an open connection to the broker, got a closed one"


async def test_nothing_is_sent_while_disconnected_each_message_is_answered_not_connected(fresh_deployment):
    await fresh_deployment.provision()
    nc = await fresh_deployment.connect(ROUTER)
    acks = AckPipeline(nc)
    await acks.start()
    fresh_deployment.stop()
    try:
        await wait_for(lambda: not nc.is_connected)
        results = await acks.publish([(f"ingest.polisen.x.{i}", b"x", {}) for i in range(3)], timeout=5)
        assert [str(r) for r in results] == [
            "Expected a connected client, got one that is reconnecting to the broker"
        ] * 3
        assert all(isinstance(r, NotConnected) for r in results)
        assert nc.pending_data_size == 0  # nothing buffered to be sent ahead of a retry on reconnect
    finally:
        await nc.close()
