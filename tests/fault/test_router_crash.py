"""The router is SIGKILLed in the middle of 10,000 records and restarted: nothing lost, nothing twice."""

from __future__ import annotations

import contextlib
import dataclasses
import os

import msgspec
import pytest
from nats.js.api import DiscardPolicy

from samband._platform import shipped_policy_dir
from samband.broker_config import ROUTER, agency_steward

from .._support import audit_entries, verify_deployment_log, wait_for
from ._procs import (
    RouterProcess,
    duplicates,
    numbered_controls,
    publish_controls,
    router_progress,
    shorten_ack_wait,
    stored,
    wait_acked,
    wait_all_routed,
)

pytestmark = [pytest.mark.fault, pytest.mark.timeout(600)]

N = int(os.environ.get("SAMBAND_FAULT_RECORDS", "10000"))
# The records the killed router had in flight come back to its successor after the consumer's ack
# wait: 60 s as the router creates the consumer; an operator may set it shorter, and so does this test.
ACK_WAIT = 10.0


# Operation Bacchus as shipped: a vehicle control goes to seven agencies (customs, tax, two benefit
# agencies, enforcement, migration, economic crime), each with the fields its purpose allows.
BACCHUS_RECIPIENTS = {
    "ekobrottsmyndigheten",
    "tullverket",
    "skatteverket",
    "forsakringskassan",
    "arbetsformedlingen",
    "kronofogden",
    "migrationsverket",
}


@contextlib.asynccontextmanager
async def refusing_inbox(dep, agency: str):
    """``agency``'s INBOX refuses anything more (full, discarding new) until the block ends; yields its size.
    (The operators' identity in its account does it: the agency's own may not change its streams.)"""
    nc = await dep.connect(agency_steward(agency))
    js = nc.jetstream()
    try:
        info = await js.stream_info("INBOX")
        await js.update_stream(
            dataclasses.replace(info.config, max_msgs=info.state.messages, discard=DiscardPolicy.NEW)
        )
        yield info.state.messages
        await js.update_stream(info.config)
    finally:
        await nc.close()


async def inbox_size(dep, agency: str) -> int:
    nc = await dep.connect(agency)
    try:
        return (await nc.jetstream().stream_info("INBOX")).state.messages
    finally:
        await nc.close()


class _Ids(msgspec.Struct):
    id: str
    record: dict


async def test_a_router_killed_mid_run_and_restarted_delivers_every_record_exactly_once(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    policy = shipped_policy_dir()
    natives = numbered_controls(90210, N, "CRASH")
    sent = {n["kontrollId"] for n in natives}

    router = RouterProcess(dep, policy, tmp_path / "router-1.log").start()
    watch = await dep.connect(ROUTER)
    try:
        await shorten_ack_wait(watch, ACK_WAIT)
        await publish_controls(dep, natives, "crash")
        await wait_acked(watch, N // 4, "the router routing a quarter of the records")
        # Kronofogden's inbox fills up and refuses: from now on each batch is audited and delivered to
        # the others, and Kronofogden's copies are parked. The kill lands in that state, with batches
        # in flight, so the restarted router gets records back that were audited and partly delivered
        # before, and the parked copies to deliver once Kronofogden takes them again.
        async with refusing_inbox(dep, "kronofogden") as held:

            async def records_audited_and_delivered_but_not_acked() -> bool:
                return await inbox_size(dep, "tullverket") >= held + 512

            await wait_for(records_audited_and_delivered_but_not_acked, 300, what="deliveries past the full inbox")
            router.freeze()  # held still, then killed: what is measured now is the state at the kill
            _, acked_at_kill, outstanding = await router_progress(watch)
            router.kill()
        assert 0 < acked_at_kill < N and outstanding > 0, "the kill must land in the middle of the run"

        router = RouterProcess(dep, policy, tmp_path / "router-2.log").start()

        await wait_all_routed(watch, "the restarted router routing every record", parked_too=True)
        assert "router stopped cleanly" in router.stop()
    finally:
        router.close()
        await watch.close()

    audit = await audit_entries(dep)
    allowed = [(a.envelope_id, a.recipient) for a in audit if a.decision == "allow"]
    assert duplicates(allowed) == {}, "a (record, recipient) pair audited twice"
    recipients = {r for _, r in allowed}
    assert recipients == BACCHUS_RECIPIENTS

    deliveries = 0
    for agency in sorted(recipients):
        copies = [msgspec.json.decode(data, type=_Ids) for data in await stored(dep, agency, "INBOX")]
        ids = [c.record["control_id"] for c in copies]
        assert duplicates(ids) == {}, f"{agency} received a record twice"
        assert set(ids) == sent, f"{agency} is missing {len(sent - set(ids))} records"
        assert {(c.id, agency) for c in copies} == {p for p in allowed if p[1] == agency}
        deliveries += len(copies)
    assert deliveries == len(allowed) == N * len(recipients)
    result = await verify_deployment_log(dep)
    assert result.ok and result.entries == len(audit), str(result)
