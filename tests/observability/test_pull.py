"""Pulling from a durable consumer (the router's input), against the real nats-server: records come in order in
batches of what is waiting (never held back for a fuller batch), and what was pulled but not routed is given back
when the router stops. Nothing here depends on how fast the machine is: the tests wait for the server's own account
of the consumer (requests waiting, records delivered) instead of counting batches."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from samband.observability.bus import Puller

from .._support import fresh_subject, scratch_stream, wait_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


STREAM = "TRANSPORT_TESTS"  # one stream for this module (the router may not delete streams); subjects per test


async def _stream(bus) -> tuple:
    nc, js = await scratch_stream(bus, STREAM, "t")
    return nc, js, STREAM


def _root() -> str:
    return fresh_subject("t")


async def _backlog(js, name: str, n: int, *, ack_wait: float) -> tuple[str, str]:
    """A durable consumer of its own on a fresh subject, and ``n`` numbered records waiting for it."""
    root = _root()
    durable = root.replace(".", "-")
    await js.add_consumer(
        name,
        ConsumerConfig(
            durable_name=durable,
            filter_subject=f"{root}.>",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
        ),
    )
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


async def test_a_backlog_comes_in_stream_order_each_record_once_in_batches_no_larger_than_asked(bus):
    nc, js, name = await _stream(bus)
    _, durable = await _backlog(js, name, 600, ack_wait=30)
    puller = Puller(nc, name, durable, batch=256, idle=0.3)
    await puller.start()
    try:
        seen, sizes = await _take(puller, 600)
        assert seen == list(range(600))
        assert max(sizes) <= 256 and min(sizes) >= 1
    finally:
        await puller.close()
        await nc.close()


async def test_records_already_pulled_come_out_together_as_one_batch_not_one_by_one(bus):
    nc, js, name = await _stream(bus)
    _, durable = await _backlog(js, name, 600, ack_wait=30)
    puller = Puller(nc, name, durable, batch=100, idle=30)  # requests that outlive the test: no expiry in play
    await puller.start()
    try:
        first = await puller.next_batch()

        async def pulled() -> int:
            """every pull request the puller sent has been served (the records sit in its buffer)"""
            info = await js.consumer_info(name, durable)
            return info.num_waiting == 0 and info.num_ack_pending

        await wait_for(pulled, what="the puller's requests served")
        buffered = (await js.consumer_info(name, durable)).num_ack_pending - len(first)
        assert buffered > 0, "the first request was for a whole batch; only part of it was returned"
        second = await puller.next_batch()
        assert len(second) == min(buffered, 100)  # all that was waiting, at once, up to the batch size
        assert [int(m.data) for m in first + second] == list(range(len(first) + len(second)))
    finally:
        await nc.close()  # not `puller.close()`: its give-back waits for the open request to expire


async def test_an_idle_input_gives_an_empty_batch_after_the_wait(bus):
    nc, js, name = await _stream(bus)
    _, durable = await _backlog(js, name, 0, ack_wait=30)
    puller = Puller(nc, name, durable, batch=256, idle=0.3)
    await puller.start()
    try:
        assert await puller.next_batch() == []
    finally:
        await puller.close()
        await nc.close()


async def test_a_single_record_arriving_while_the_puller_waits_comes_out_at_once_not_after_the_wait(bus):
    nc, js, name = await _stream(bus)
    root, durable = await _backlog(js, name, 0, ack_wait=30)
    puller = Puller(nc, name, durable, batch=256, idle=60)  # an idle wait far longer than the deadline below
    await puller.start()
    try:
        waiting = asyncio.create_task(puller.next_batch())

        async def request_open() -> bool:
            """the puller's request is waiting on the server"""
            return (await js.consumer_info(name, durable)).num_waiting >= 1

        await wait_for(request_open)
        await js.publish(f"{root}.r", b"600")
        assert [m.data for m in await asyncio.wait_for(waiting, 20)] == [b"600"]
    finally:
        await nc.close()  # not `puller.close()`: its give-back waits for the open request to expire


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
