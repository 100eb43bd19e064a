"""`samband status` on a real nats-server: what an operator sees while records wait, route and are refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from samband._platform import Platform, shipped_policy_dir
from samband._status import Status, StatusSession
from samband.broker_config import ROUTER
from samband.schemas.layout import parked_subject, quarantine_subject
from samband.testing import skeleton_policy

from ._support import send_as, vehicle_control, wait_for

SHIPPED = shipped_policy_dir()


def status_cli(dep, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """``samband --state-dir STATE status ARGS`` as a user types it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "samband", "--state-dir", str(dep.state_dir), "status", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | {"COLUMNS": "200"},
    )


async def read_status(dep) -> Status:
    async with StatusSession(dep, SHIPPED) as session:
        return await session.read()


def row(s: Status, agency: str):
    return next(r for r in s.agencies if r.agency == agency)


async def test_status_shows_a_lagging_agency_then_its_records_routed_and_a_dead_letter_after_it_happens(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    await dep.provision()
    # Skatteverket's inbox reader exists but has stopped reading: what reaches it is its lag
    sk = await dep.connect("skatteverket")
    await sk.jetstream().pull_subscribe("in.>", durable="skatteverket-sink", stream="INBOX")
    for i in range(3):
        await send_as(dep, "polisen", vehicle_control(), msg_id=f"lag-{i}")

    before = await read_status(dep)
    assert (row(before, "polisen").ingest_lag, row(before, "tullverket").ingest_lag) == (3, 0)
    assert row(before, "polisen").ingest_oldest_seconds is not None
    assert (row(before, "skatteverket").inbox_lag, row(before, "polisen").inbox_lag) == (0, None)
    assert row(before, "skatteverket").connections == 1
    assert (before.writer.holder, before.writer.routers, before.audit.entries) == (None, 0, 0)

    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    try:
        await platform.start_router()

        async def routed() -> bool:
            s = await read_status(dep)
            return row(s, "polisen").ingest_lag == 0 and row(s, "skatteverket").inbox_lag == 3

        await wait_for(routed, timeout=20, interval=0.2, what="polisen's 3 records routed to skatteverket's inbox")
        polisen = await dep.connect("polisen")
        try:
            await polisen.jetstream().publish("out.police.vehicle_control", b"{not json", headers={"Nats-Msg-Id": "x"})
        finally:
            await polisen.close()

        async def dead_lettered() -> bool:
            return row(await read_status(dep), "polisen").dead_letters == 1

        await wait_for(dead_lettered, timeout=20, interval=0.2, what="polisen's malformed record dead-lettered")
        after = await read_status(dep)
    finally:
        await platform.stop()
        await sk.close()
    assert after.writer.holder is not None and after.writer.since is not None
    assert (after.writer.routers, after.writer.standby) == (1, 0)
    assert after.audit.entries >= 4 and after.audit.verified == "OK"
    assert after.audit.checkpoint_age_seconds is not None and after.audit.checkpoint_age_seconds >= 0
    assert [r.dead_letters for r in after.agencies if r.agency != "polisen"] == [0] * (len(after.agencies) - 1)
    assert after.broker.version and after.broker.cluster is None and after.broker.peers == []
    assert "operation bacchus-2017" in after.policy.in_force


async def hold_back(dep) -> None:
    """One record of Tullverket's quarantined, two deliveries to Kronofogden parked, written where the
    router writes them (no router runs in this test: nothing drains them)."""
    nc = await dep.connect(ROUTER)
    try:
        js = nc.jetstream()
        await js.publish(quarantine_subject("tullverket", "intake"), b"held")
        for i in range(2):
            await js.publish(parked_subject("kronofogden"), f"parked-{i}".encode())
    finally:
        await nc.close()


def test_status_json_has_every_part_an_operator_reads(fresh_deployment):
    asyncio.run(fresh_deployment.provision())
    asyncio.run(hold_back(fresh_deployment))
    result = status_cli(fresh_deployment, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert sorted(out) == ["agencies", "at", "audit", "broker", "policy", "writer"]
    assert sorted(out["broker"]) == [
        "cluster",
        "connections",
        "peers",
        "server",
        "started",
        "uptime_seconds",
        "url",
        "version",
    ]
    assert out["broker"]["url"] == fresh_deployment.url
    assert sorted(out["writer"]) == ["holder", "routers", "since", "standby"]
    assert sorted(out["audit"]) == ["checkpoint_age_seconds", "checkpoint_at", "entries", "verified"]
    assert out["audit"]["verified"] == "no checkpoint yet"
    assert sorted(out["policy"]) == ["decisions", "directory", "in_force", "version"]
    assert [a["agency"] for a in out["agencies"]] == sorted(fresh_deployment.agencies)
    assert sorted(out["agencies"][0]) == [
        "agency",
        "connections",
        "dead_letters",
        "inbox_lag",
        "ingest_lag",
        "ingest_oldest_seconds",
        "parked",
        "quarantined",
    ]
    held = {a["agency"]: (a["quarantined"], a["parked"]) for a in out["agencies"] if a["quarantined"] or a["parked"]}
    assert held == {"tullverket": (1, 0), "kronofogden": (0, 2)}
    table = status_cli(fresh_deployment)
    assert table.returncode == 0, table.stderr
    assert "nobody holds the audit lease: no router writes the log" in table.stdout
    assert "ingest lag" in table.stdout and "ruc_syd" in table.stdout


def test_status_with_the_broker_gone_says_so_in_one_line_within_seconds(fresh_deployment):
    asyncio.run(fresh_deployment.provision())
    fresh_deployment.stop()
    result = status_cli(fresh_deployment, timeout=20)  # fails the test if it waits longer
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: Expected a nats-server at {fresh_deployment.url} for `admin`, got connection refused: "
        f"is the deployment running? Start it with `samband --state-dir {fresh_deployment.state_dir} up`\n"
    )


def test_status_watch_ends_with_one_line_when_the_broker_goes_away(fresh_deployment):
    asyncio.run(fresh_deployment.provision())
    proc = subprocess.Popen(
        [sys.executable, "-m", "samband", "--state-dir", str(fresh_deployment.state_dir)]
        + ["status", "--watch", "0.5", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["broker"]["url"] == fresh_deployment.url
        fresh_deployment.stop()
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"Error: Expected the nats-server at {fresh_deployment.url} to answer `admin`, got ")
    assert err.endswith(
        f"is the deployment running? Start it with `samband --state-dir {fresh_deployment.state_dir} up`\n"
    )


async def test_status_names_the_router_that_writes_and_the_one_standing_by(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    first = Platform(dep, skeleton_policy(), tmp_path / "first")
    second = Platform(dep, skeleton_policy(), tmp_path / "second")
    try:
        await first.start_router()
        await second.start_router()
        assert second.standby.is_set()
        s = await read_status(dep)
    finally:
        await second.stop()
        await first.stop()
    assert (s.writer.routers, s.writer.standby) == (2, 1)
    assert s.writer.holder == second.standby_holder  # whom the standby found holding it
    gone = await read_status(dep)  # the leader stopped cleanly: it deleted its key
    assert (gone.writer.holder, gone.writer.routers, gone.writer.standby) == (None, 0, 0)
