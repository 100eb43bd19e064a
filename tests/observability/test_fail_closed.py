"""No delivery without a durable audit record: when the trail cannot be written, the router waits."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter

import msgspec
from nats.js.api import DiscardPolicy
from structlog.testing import capture_logs

from samband._platform import Platform
from samband.adapters import publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.broker_config import AUDIT_ADMIN, agency_steward
from samband.schemas import ENVELOPE
from samband.testing import skeleton_policy

from .._support import audit_bundle_times, audit_entries, verify_deployment_log, wait_for


async def publish(dep, tmp_path, name: str, seed: int, n: int) -> int:
    export = tmp_path / f"{name}.jsonl"
    with open(export, "wb") as f:
        for rec in polisen.sample(random.Random(seed), n, operation="bacchus-2017"):
            f.write(msgspec.json.encode(rec) + b"\n")
    nc = await dep.connect("polisen")
    try:
        return (await publish_records(nc, polisen, read_jsonl(export))).published
    finally:
        await nc.close()


async def set_audit_max_msgs(js, limit: int) -> None:
    # A real operator-side change (the audit admin's; no runtime identity may change the audit
    # streams): the stream is "full" (max_msgs reached, discard new), so every further append
    # is refused by the server until the limit is lifted.
    info = await js.stream_info("AUDIT")
    await js.update_stream(dataclasses.replace(info.config, max_msgs=limit))


async def test_when_the_audit_stream_refuses_appends_nothing_is_delivered_and_delivery_resumes_by_itself(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    router = await platform.start_router()
    sink = await platform.start_sink("skatteverket")
    ac = await dep.connect(AUDIT_ADMIN)
    ajs = ac.jetstream()
    try:
        assert await publish(dep, tmp_path, "before", 31, 10) == 10
        await wait_for(lambda: len(sink) >= 10)
        stored = (await ajs.stream_info("AUDIT")).state.messages
        committed = (await ajs.get_msg("AUDIT", subject="audit.checkpoint")).seq
        with capture_logs() as logs:
            # room for 3 more messages: an append is a chain of at least four (bundle, leaf hashes, a
            # view, checkpoint last), so it is cut short: three stored, its checkpoint refused
            await set_audit_max_msgs(ajs, stored + 3)
            assert await publish(dep, tmp_path, "during", 32, 10) == 10
            await wait_for(lambda: router.blocked)
            await asyncio.sleep(1.0)  # a second of retries against the full log: what follows must hold after it
            assert (await ajs.stream_info("AUDIT")).state.messages == stored + 3
            last_checkpoint = (await ajs.get_msg("AUDIT", subject="audit.checkpoint")).seq
            assert last_checkpoint == committed, "an append was committed while the log refused messages"
            audited = {r.envelope_id for r in await audit_entries(dep)}
            delivered = {ENVELOPE.decode(line).id for line in sink.path.read_bytes().splitlines()}
            assert delivered <= audited, "a record was delivered while its audit entry could not be written"
            assert len(delivered) == 10 and router.blocked
            await set_audit_max_msgs(ajs, -1)
            await wait_for(lambda: len(sink) >= 20, timeout=20)
            await wait_for(lambda: not router.blocked)
        events = [e["event"] for e in logs if e.get("log_level") in ("error", "warning")]
        assert events.count("audit trail unavailable: delivery stopped until it is back") == 1
        assert "audit trail writable again: delivery resumed" in events
    finally:
        await ac.close()
        await platform.stop()

    result = await verify_deployment_log(dep)
    assert result.ok, f"the log does not verify after the outage: {result}"
    assert len(result.notes) == 1 and result.notes[0].startswith(
        f"an append that was not finished: stream seq {stored + 1}..{stored + 3} of the "
    ), result.notes
    records = await audit_entries(dep)
    allowed = Counter(r.envelope_id for r in records if r.decision == "allow" and r.recipient == "skatteverket")
    delivered = [ENVELOPE.decode(line).id for line in sink.path.read_bytes().splitlines()]
    assert len(delivered) == 20 and set(delivered) == set(allowed)
    assert set(allowed.values()) == {1}, "a redelivered record was audited twice"
    # every delivery was stored after its audit entry (both times from the server's clock)
    audit_time = await audit_bundle_times(dep)
    sc = await dep.connect("skatteverket")
    try:
        sjs = sc.jetstream()
        for seq in range(1, (await sjs.stream_info("INBOX")).state.last_seq + 1):
            m = await sjs.get_msg("INBOX", seq)
            assert audit_time[ENVELOPE.decode(m.data).id] <= m.time
    finally:
        await sc.close()


async def test_a_recipient_whose_inbox_refuses_gets_its_records_parked_in_order_and_delivered_once_it_accepts_again(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    router = await platform.start_router()
    # the operators' identity in Skatteverket's account: the agency's own may not change its streams
    sc = await dep.connect(agency_steward("skatteverket"))
    sjs = sc.jetstream()
    try:
        info = await sjs.stream_info("INBOX")
        # the agency's inbox is "full" after 3 (and refuses, rather than dropping the oldest)
        await sjs.update_stream(dataclasses.replace(info.config, max_msgs=3, discard=DiscardPolicy.NEW))
        with capture_logs() as logs:
            assert await publish(dep, tmp_path, "full", 33, 6) == 6
            await wait_for(lambda: router.stats.parked >= 3)
        assert (await sjs.stream_info("INBOX")).state.messages == 3
        refused = [e for e in logs if e["event"] == "deliveries refused by the recipient's inbox; parked"]
        assert refused and "maximum messages exceeded" in refused[0]["error"]
        assert router.parking.parked("skatteverket")
        await sjs.update_stream(dataclasses.replace(info.config, max_msgs=-1))

        async def inbox() -> int:
            return (await sjs.stream_info("INBOX")).state.messages

        for _ in range(600):
            if await inbox() >= 6:
                break
            await asyncio.sleep(0.05)
        assert await inbox() == 6
        await wait_for(lambda: not router.parking.parked("skatteverket"), timeout=20)
        ids = [ENVELOPE.decode((await sjs.get_msg("INBOX", seq)).data).record.control_id for seq in range(1, 7)]
    finally:
        await sc.close()
        await platform.stop()
    records = await audit_entries(dep)
    assert len(records) == 6 and len({r.envelope_id for r in records}) == 6
    sent = [r["kontrollId"] for r in map(msgspec.json.decode, (tmp_path / "full.jsonl").read_bytes().splitlines())]
    assert ids == sent, "the parked deliveries arrived out of order"
