"""The router's own JetStream plumbing, against the real nats-server: every publish gets its
server's answer (an ack, a refusal or a timeout) and the input comes in batches that follow the load."""

from __future__ import annotations

import asyncio
import random

import pytest
from nats.errors import NoRespondersError
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from samband.broker_config import ROUTER
from samband.router._acks import AckPipeline, PublishRefused
from samband.router._pull import Puller

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


STREAM = "TRANSPORT_TESTS"  # one stream for this module (the router may not delete streams); subjects per test


async def _stream(bus) -> tuple:
    nc = await bus.connect(ROUTER)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["t.>"], storage=StorageType.MEMORY))  # idempotent
    return nc, js, STREAM


def _root() -> str:
    return f"t.{random.getrandbits(40):x}"


async def _backlog(js, name: str, n: int, *, ack_wait: float) -> tuple[str, str]:
    """A durable consumer of its own on a fresh subject, and ``n`` numbered records waiting for it."""
    root = _root()
    durable = root.replace(".", "-")
    await js.add_consumer(name, ConsumerConfig(
        durable_name=durable, filter_subject=f"{root}.>", ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait,
    ))
    for i in range(n):
        await js.publish(f"{root}.r", str(i).encode())
    return root, durable


async def _take(puller: Puller, n: int, timeout: float = 10.0) -> tuple[list[int], list[int]]:
    """Ack records from ``puller`` until ``n`` came (or ``timeout``): their numbers and the batch sizes."""
    seen, sizes = [], []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(seen) < n and loop.time() < deadline:
        batch = await puller.next_batch()
        sizes.append(len(batch))
        for m in batch:
            seen.append(int(m.data))
            await m.ack()
    return seen, sizes


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


async def test_a_backlog_comes_in_batches_and_an_idle_input_returns_nothing_after_the_wait(bus):
    nc, js, name = await _stream(bus)
    root, durable = await _backlog(js, name, 600, ack_wait=30)
    puller = Puller(nc, name, durable, batch=256, idle=0.3)
    await puller.start()
    try:
        seen, sizes = await _take(puller, 600)
        assert seen == list(range(600))  # in stream order, each once
        assert max(sizes) <= 256 and len(sizes) <= 12  # a backlog comes in batches, not record by record
        assert await puller.next_batch() == []
        # a single record arriving while idle is routed at once, not held for a fuller batch
        waiting = asyncio.create_task(puller.next_batch())
        await asyncio.sleep(0.05)
        await js.publish(f"{root}.r", b"600")
        assert [m.data for m in await asyncio.wait_for(waiting, 1.0)] == [b"600"]
    finally:
        await puller.close()
        await nc.close()


async def test_records_pulled_but_not_routed_when_the_router_stops_are_given_back_at_once(bus):
    nc, js, name = await _stream(bus)
    # an ack wait far longer than the test: only a give-back can bring them back in time
    _, durable = await _backlog(js, name, 300, ack_wait=600)
    first = Puller(nc, name, durable, batch=100, idle=0.3)
    await first.start()
    routed = await first.next_batch()
    for m in routed:
        await m.ack()
    await first.close()  # the rest it had pulled (prefetched) is not routed by it

    second = Puller(nc, name, durable, batch=100, idle=0.3)
    await second.start()
    try:
        rest, _ = await _take(second, 300 - len(routed))
        assert sorted(rest) == list(range(len(routed), 300))
    finally:
        await second.close()
        await nc.close()


async def test_a_batch_that_cannot_be_sent_is_answered_with_the_error_for_each_record_in_order(bus):
    nc = await bus.connect(ROUTER)
    acks = AckPipeline(nc)
    await acks.start()
    await nc.close()  # the connection is gone: nothing can be sent, nothing may be lost silently
    results = await acks.publish([(f"t.closed.{i}", b"x", {}) for i in range(3)], timeout=5)
    assert [type(r).__name__ for r in results] == ["ConnectionClosedError"] * 3
