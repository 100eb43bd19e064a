"""The router is SIGKILLed in the middle of 10,000 records and restarted: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random

import msgspec
import pytest

from samband.adapters import NativeRecord, publish_records
from samband.adapters.agencies import polisen

from .._support import audit_entries, verify_deployment_log
from ._procs import RouterProcess, duplicates, read_stream, router_progress, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.timeout(900)]

# 10,000 records x six recipients: about a minute on an idle 2-core machine, several when it is shared.
N = int(os.environ.get("SAMBAND_FAULT_RECORDS", "10000"))


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


class _Ids(msgspec.Struct):
    id: str
    record: dict


async def test_a_router_killed_mid_run_and_restarted_delivers_every_record_exactly_once(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    from samband._platform import shipped_policy_dir

    policy = shipped_policy_dir()
    natives = polisen.sample(random.Random(90210), N, operation="bacchus-2017", region="syd")
    for i, n in enumerate(natives):
        n["kontrollId"] = f"PM-CRASH-{i:05d}"
    sent = {n["kontrollId"] for n in natives}

    router = RouterProcess(dep, policy, tmp_path / "router-1.log").start()
    nc = await dep.connect("polisen")
    summary = await publish_records(nc, polisen, [NativeRecord(f"crash:{i}", b"", n) for i, n in enumerate(natives)])
    await nc.close()
    assert summary.published == N

    async def a_third_routed() -> bool:
        _, acked, _ = await router_progress(dep)
        return acked >= N // 3

    await wait_until(a_third_routed, 600, "the router routing a third of the records")
    router.kill()
    _, acked_at_kill, outstanding = await router_progress(dep)
    assert 0 < acked_at_kill < N and outstanding > 0, "the kill must land in the middle of the run"

    router = RouterProcess(dep, policy, tmp_path / "router-2.log").start()

    async def all_routed() -> bool:
        last, acked, outstanding = await router_progress(dep)
        return acked >= last and outstanding == 0

    await wait_until(all_routed, 600, "the restarted router routing every record")
    assert "router stopped cleanly" in router.stop()

    audit = await audit_entries(dep)
    allowed = [(a.envelope_id, a.recipient) for a in audit if a.decision == "allow"]
    assert duplicates(allowed) == {}, "a (record, recipient) pair audited twice"
    recipients = {r for _, r in allowed}
    assert recipients == BACCHUS_RECIPIENTS

    deliveries = 0
    for agency in sorted(recipients):
        copies = [msgspec.json.decode(m.data, type=_Ids) for m in await read_stream(dep, agency, "INBOX", "in.>")]
        ids = [c.record["control_id"] for c in copies]
        assert duplicates(ids) == {}, f"{agency} received a record twice"
        assert set(ids) == sent, f"{agency} is missing {len(sent - set(ids))} records"
        assert {(c.id, agency) for c in copies} == {p for p in allowed if p[1] == agency}
        deliveries += len(copies)
    assert deliveries == len(allowed) == N * len(recipients)
    result = await verify_deployment_log(dep)
    assert result.ok and result.entries == len(audit), str(result)
