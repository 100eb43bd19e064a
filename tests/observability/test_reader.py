"""The bulk reader gives every stored message of a range, in order, byte for byte, or says which is missing."""

from __future__ import annotations

import contextlib

import pytest
from nats.js.api import StorageType, StreamConfig

from samband.broker_config import ROUTER
from samband.observability.bus._reader import StreamGap, _nats_pull, _with_consumer, read_range
from samband.observability.bus._wire import wire_pull


@contextlib.asynccontextmanager
async def filled_stream(dep, name: str, subjects_in_order: list[str]):
    """A file stream ``name`` keeping one message per subject, filled in this order: (connection, bytes sent)."""
    await dep.provision()
    nc = await dep.connect(ROUTER)
    try:
        js = nc.jetstream()
        # one message per subject is kept: publishing a subject again removes its older message
        await js.add_stream(
            StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE, max_msgs_per_subject=1)
        )
        sent = []
        for i, subject in enumerate(subjects_in_order):
            data = f'{{"n":{i},"pad":"{"x" * (i % 700)}"}}'.encode()
            await js.publish(f"{name.lower()}.{subject}", data, headers={"Nats-Msg-Id": f"{name}-{i}"})
            sent.append(data)
        yield nc, sent
    finally:
        await nc.close()


async def test_the_fast_read_gives_the_stored_bytes_in_order_exactly_as_nats_py_does(fresh_deployment):
    async with filled_stream(fresh_deployment, "READ", [f"s{i}" for i in range(3_210)]) as (nc, sent):
        fast = await _with_consumer(
            nc,
            "READ",
            101,
            lambda nxt: wire_pull(
                nc, nxt, "READ", 101, 3_210, batch=500, with_subjects=True, strict=True, gap=StreamGap
            ),
        )
        slow = await _with_consumer(
            nc, "READ", 101, lambda nxt: _nats_pull(nc, nxt, "READ", 101, 3_210, with_subjects=True, strict=True)
        )
        assert fast == slow == [(f"read.s{i}", d) for i, d in enumerate(sent)][100:]
        assert await read_range(nc, "READ", 1, 3_210) == sent


@pytest.mark.parametrize("reader", ["wire", "nats-py"])
async def test_a_hole_in_the_stream_is_named_not_skipped(fresh_deployment, reader):
    # seq 1 a, 2 b, 3 c, 4 b: seq 2 is gone
    async with filled_stream(fresh_deployment, "HOLE", ["a", "b", "c", "b"]) as (nc, sent):

        def pull(strict):
            if reader == "wire":
                return lambda nxt: wire_pull(
                    nc, nxt, "HOLE", 1, 4, batch=2, with_subjects=False, strict=strict, gap=StreamGap
                )
            return lambda nxt: _nats_pull(nc, nxt, "HOLE", 1, 4, with_subjects=False, strict=strict)

        with pytest.raises(StreamGap) as err:
            await _with_consumer(nc, "HOLE", 1, pull(True))
        assert str(err.value) == "Expected seq 2 of stream HOLE, got seq 3: seq 2..2 are not in the stream"
        assert err.value.seq == 2
        # where holes are allowed (a stream with limits), the rest comes in order
        assert await _with_consumer(nc, "HOLE", 1, pull(False)) == [sent[0], sent[2], sent[3]]


async def test_where_no_second_connection_can_be_made_the_read_goes_through_nats_py(fresh_deployment, monkeypatch):
    from samband.observability.bus import _shim
    from samband.observability.bus._wire import WireUnavailable

    async with filled_stream(fresh_deployment, "LEND", [f"s{i}" for i in range(40)]) as (nc, sent):
        # a client that cannot lend its nkey signature (another kind of authentication, or a nats-py
        # whose signer the shim cannot find)
        monkeypatch.setattr(_shim, "signer", lambda nc: None)
        with pytest.raises(WireUnavailable, match="wants an nkey signature"):
            await _with_consumer(
                nc,
                "LEND",
                1,
                lambda nxt: wire_pull(
                    nc, nxt, "LEND", 1, 40, batch=10, with_subjects=False, strict=True, gap=StreamGap
                ),
            )
        assert await read_range(nc, "LEND", 1, 40) == sent


@pytest.mark.parametrize("reader", ["wire", "nats-py"])
async def test_a_filtered_read_gives_every_message_of_its_subjects_and_ends_where_the_others_follow(
    fresh_deployment, reader
):
    """As the audit log is read: bundles, leaf hashes and checkpoints between views, read in small
    batches with several filter subjects; a status from the server is not taken for the end while
    messages of those subjects are still ahead (it once cut a read of the log short)."""
    order = [s for b in range(60) for s in ("log", "tree", *(f"view{v}" for v in range(9)), "checkpoint")]
    order += ["view0", "view1"]  # the read ends with messages it does not filter
    async with filled_stream(fresh_deployment, "FILT", [f"{s}.{i}" for i, s in enumerate(order)]) as (nc, sent):
        subjects = ["filt.log.>", "filt.tree.>", "filt.checkpoint.>"]
        want = [(i + 1, f"filt.{s}.{i}", sent[i]) for i, s in enumerate(order) if s in ("log", "tree", "checkpoint")]

        def pull(nxt):
            if reader == "wire":
                return wire_pull(nc, nxt, "FILT", 1, len(order), batch=24, with_subjects=False, with_seqs=True,
                                 strict=False, gap=StreamGap)  # fmt: skip
            return _nats_pull(nc, nxt, "FILT", 1, len(order), with_subjects=False, with_seqs=True, strict=False,
                              batch=24)  # fmt: skip

        for _ in range(3):
            assert await _with_consumer(nc, "FILT", 1, pull, subjects=subjects) == want
