"""Two routers on one deployment: the second stands by; the leader is SIGKILLed in the middle of the
load and the standby takes over within the lease's time: nothing lost, nothing twice, the log verifies."""

from __future__ import annotations

import asyncio
import os
import time

import msgspec
import pytest

from samband.broker_config import ROUTER
from samband.observability.audit import LEASE_TTL, POLL

from .._support import audit_entries, verify_deployment_log
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
from .test_router_crash import ACK_WAIT, BACCHUS_RECIPIENTS

pytestmark = [pytest.mark.fault, pytest.mark.timeout(600)]

N = int(os.environ.get("SAMBAND_FAULT_RECORDS", "6000"))
# the documented bound (docs/audit.md): the lease lapses LEASE_TTL after the leader's last renewal,
# the standby tries every POLL, then reads where the log stands (a batch or two) before routing
TAKEOVER = LEASE_TTL + POLL + 5.0


class _Ids(msgspec.Struct):
    id: str
    record: dict


async def test_a_standby_router_takes_over_when_the_leader_dies_with_no_loss_no_double_and_a_log_that_verifies(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    from samband._platform import shipped_policy_dir

    policy = shipped_policy_dir()
    natives = numbered_controls(7411, N, "STANDBY")
    sent = {n["kontrollId"] for n in natives}

    leader = RouterProcess(dep, policy, tmp_path / "leader.log").start()
    standby = RouterProcess(dep, policy, tmp_path / "standby.log").start(ready=b"standby:")
    watch = await dep.connect(ROUTER)
    try:
        await shorten_ack_wait(watch, ACK_WAIT)  # the killed leader's in-flight records come back after it
        await publish_controls(dep, natives, "sb")
        await wait_acked(watch, N // 3, "the leader routing a third of the records")
        leader.freeze()  # held still, then killed: what is measured now is the state at the kill
        _, acked_at_kill, outstanding = await router_progress(watch)
        leader.kill()
        killed_at = time.monotonic()
        assert 0 < acked_at_kill < N and outstanding > 0, "the kill must land in the middle of the run"

        # it takes the lease over and routes, within the documented time (a deadline, not a measurement)
        await asyncio.wait_for(asyncio.to_thread(standby.wait_line, b"router running"), TAKEOVER)
        print(f"the standby took over {time.monotonic() - killed_at:.1f} s after the leader was killed")

        await wait_all_routed(watch, "the standby routing every record")
        assert "router stopped cleanly" in standby.stop()
    finally:
        leader.close()
        standby.close()
        await watch.close()

    audit = await audit_entries(dep)
    allowed = [(a.envelope_id, a.recipient) for a in audit if a.decision == "allow"]
    assert duplicates(allowed) == {}, "a (record, recipient) pair audited twice"
    assert {r for _, r in allowed} == BACCHUS_RECIPIENTS
    deliveries = 0
    for agency in sorted(BACCHUS_RECIPIENTS):
        copies = [msgspec.json.decode(data, type=_Ids) for data in await stored(dep, agency, "INBOX")]
        ids = [c.record["control_id"] for c in copies]
        assert duplicates(ids) == {}, f"{agency} received a record twice"
        assert set(ids) == sent, f"{agency} is missing {len(sent - set(ids))} records"
        deliveries += len(copies)
    assert deliveries == len(allowed) == N * len(BACCHUS_RECIPIENTS)
    result = await verify_deployment_log(dep)
    assert result.ok and result.entries == len(audit), str(result)
    # both routers wrote the one log: two lease terms in it, one tree
    terms = {b for b in (await _terms(dep))}
    assert len(terms) == 2, terms


async def _terms(dep) -> list[int]:
    from samband.observability.audit import decode_bundle
    from samband.observability.bus import read_range

    nc = await dep.connect("auditor")
    try:
        last = (await nc.jetstream().stream_info("AUDIT")).state.last_seq
        bundles = await read_range(nc, "AUDIT", 1, last, subjects=["audit.log"])
    finally:
        await nc.close()
    return [decode_bundle(b)[0].term for b in bundles]


@pytest.mark.parametrize("first", ["the old leader", "the writer"])
async def test_a_leader_paused_past_its_lease_stops_appending_when_it_wakes_and_stands_by(
    fresh_deployment, tmp_path, first
):
    import signal

    dep = fresh_deployment
    await dep.provision()
    from samband._platform import shipped_policy_dir

    policy = shipped_policy_dir()
    n = max(1000, N // 3)
    natives = numbered_controls(7412, n, "PAUSE")
    leader = RouterProcess(dep, policy, tmp_path / "leader.log").start()
    standby = RouterProcess(dep, policy, tmp_path / "standby.log").start(ready=b"standby:")
    watch = await dep.connect(ROUTER)
    try:
        await shorten_ack_wait(watch, ACK_WAIT)
        await publish_controls(dep, natives, "p")
        await wait_acked(watch, n // 4, "the leader routing a quarter of the records")
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGSTOP)  # a paused process: its lease lapses
        await asyncio.wait_for(asyncio.to_thread(standby.wait_line, b"router running"), TAKEOVER)
        leader.proc.send_signal(signal.SIGCONT)  # it wakes holding a batch and a lease that is no longer its

        await wait_all_routed(watch, "every record routed once the leader woke")
        # The old leader stands by: stopped first, it stops while the other holds the lease (SIGTERM came
        # while it still took its lookups' drainer down, and it used to wait for the lease forever:
        # docs/audit.md); stopped second, it takes the lease the writer gave back, then stops.
        order = [leader, standby] if first == "the old leader" else [standby, leader]
        for router in order:
            assert "router stopped cleanly" in router.stop()
    finally:
        leader.close()
        standby.close()
        await watch.close()
    said = leader.log.read_text()
    assert "audit lease lost" in said, said[-2000:]
    audit = await audit_entries(dep)
    allowed = [(a.envelope_id, a.recipient) for a in audit if a.decision == "allow"]
    assert duplicates(allowed) == {}, "a (record, recipient) pair audited twice"
    assert len(allowed) == n * len(BACCHUS_RECIPIENTS)
    result = await verify_deployment_log(dep)
    assert result.ok and result.entries == len(audit), str(result)
