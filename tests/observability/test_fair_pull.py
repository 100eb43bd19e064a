"""Pulling from every agency's stream fairly (the router's input), against the real nats-server: one
agency's backlog, however large or however large its records, does not hold back another's record for
more than a batch, and no batch brings more bytes than it may."""

from __future__ import annotations

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from samband.broker_config import ROUTER
from samband.observability.bus import FairPuller

from .._support import fresh_subject, wait_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


async def _streams(bus, n: int) -> tuple:
    """A connection, and ``n`` streams of their own (memory, explicit-ack durable consumers), fresh names."""
    nc = await bus.connect(ROUTER)
    js = nc.jetstream()
    names = []
    for _ in range(n):
        root = fresh_subject("fair")
        name = root.replace(".", "_").upper()
        await js.add_stream(
            StreamConfig(name=name, subjects=[f"{root}.>"], storage=StorageType.MEMORY, max_msg_size=1_600_000)
        )
        await js.add_consumer(name, ConsumerConfig(durable_name="d", ack_policy=AckPolicy.EXPLICIT))
        names.append((name, root))
    return nc, js, names


async def _fill(js, root: str, n: int, size: int, tag: str) -> None:
    for i in range(n):
        await js.publish(f"{root}.r", f"{tag}{i}:".encode().ljust(size, b"."))


async def _first_pulls_answered(fair: FairPuller) -> None:
    """Both streams' first pull answered: the bound is on batches once a record is at the router, not
    on how fast a loaded machine answers a pull request."""
    for p in fair.pullers.values():
        await p.request()
    await wait_for(lambda: all(p.buffered for p in fair.pullers.values()), what="every stream's first pull answered")


async def test_a_trickle_is_routed_within_a_batch_of_a_flood_of_small_records(bus):
    nc, js, [(flood, froot), (trickle, troot)] = await _streams(bus, 2)
    try:
        await _fill(js, froot, 3000, 200, "f")
        await _fill(js, troot, 5, 200, "t")
        fair = FairPuller(nc, batch=256)
        await fair.add("flood", flood, "d", max_msg_bytes=1_600_000)
        await fair.add("trickle", trickle, "d", max_msg_bytes=1_600_000)
        await _first_pulls_answered(fair)
        seen: list[bytes] = []
        batches = 0
        while sum(1 for d in seen if d.startswith(b"t")) < 5 and batches < 20:
            batch = await fair.next_batch()
            batches += 1
            assert len(batch) <= 256
            seen += [m.data for m in batch]
            for m in batch:
                await m.ack()
        await fair.close()
        assert batches <= 2, f"the trickle waited {batches} batches behind the flood"
        assert sum(1 for d in seen if d.startswith(b"f")) < 3000, "the flood was drained first"
    finally:
        await nc.close()


async def test_large_records_come_in_bounded_batches_and_do_not_starve_small_ones(bus):
    nc, js, [(big, broot), (small, sroot)] = await _streams(bus, 2)
    try:
        await _fill(js, broot, 12, 1_500_000, "b")  # larger than a pull request's default 1 MiB
        await _fill(js, sroot, 40, 300, "s")
        fair = FairPuller(nc, batch=256, batch_bytes=4 * 1024**2)
        await fair.add("big", big, "d", max_msg_bytes=1_600_000)
        await fair.add("small", small, "d", max_msg_bytes=1_600_000)
        await _first_pulls_answered(fair)
        got = {b"b": 0, b"s": 0}
        first_small = None
        for n in range(1, 40):
            batch = await fair.next_batch()
            assert sum(len(m.data) for m in batch) <= 4 * 1024**2 or len(batch) == 1
            for m in batch:
                got[m.data[:1]] += 1
                await m.ack()
            if first_small is None and got[b"s"]:
                first_small = n
            if got == {b"b": 12, b"s": 40}:
                break
        await fair.close()
        assert got == {b"b": 12, b"s": 40}, "every record came, the 1.5 MB ones too"
        assert first_small == 1, "the small records waited behind the large ones"
    finally:
        await nc.close()
