"""Live changes on a real nats-server: SSO's decisions, agency registrations, file reloads, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import random
import shutil

import msgspec

from samband._demo import publish_decision
from samband._platform import Platform
from samband.adapters import publish_records
from samband.adapters._sources import NativeRecord
from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER
from samband.router import LivePolicy, create_council_keys, load_private_key, sign_decision
from samband.schemas import AgencyRegistration, CooptionDecision, Envelope, OperationDecision, encode, new_envelope_id

from .._support import SHIPPED, audit_entries, live_router, vehicle_control, wait_for

NOW = _dt.datetime.now(_dt.UTC)


def grant(
    agency: str = "kustbevakningen",
    *,
    grant_id: str = "bacchus-kbv",
    valid_to: _dt.datetime | None = None,
    fields=("control_id", "controlled_at", "location", "vehicle", "vehicle_kind"),
    revoked: bool = False,
    basis: str = "LUS 2016:774",
) -> Envelope:
    rec = CooptionDecision(
        grant_id=grant_id,
        agency=agency,
        operation="bacchus-2017",
        record_types=("police.vehicle_control",),
        fields=fields,
        valid_from=NOW - _dt.timedelta(hours=1),
        valid_to=valid_to or NOW + _dt.timedelta(days=1),
        decided_by="RSR Syd",
        reason="vessels' crews on the liquor buses",
        legal_basis=basis,
        revoked=revoked,
    )
    return Envelope(id=new_envelope_id(), record=rec, region="syd", operation="bacchus-2017", produced_at=NOW)


@contextlib.asynccontextmanager
async def live_policy(dep):
    """The shipped policy following the deployment's DECISIONS and REGISTRY streams, as the router runs it."""
    await dep.provision()
    live = LivePolicy(SHIPPED, councils=create_council_keys(dep.state_dir))
    rc = await dep.connect(ROUTER)
    try:
        await live.start(rc, asyncio.Event())
        yield live, rc
    finally:
        await live.close()
        await rc.close()


async def sso_publishes(dep, env: Envelope) -> None:
    """SSO publishes RSR Syd's decision, signed with the council's key."""
    await publish_decision(dep, env, "rsr-syd")


def signed(dep, env: Envelope, council: str = "rsr-syd") -> tuple[bytes, dict[str, str]]:
    body = encode(env)
    return body, sign_decision(load_private_key(dep.state_dir / "councils", council), council, body)


async def polisen_publishes(dep, n: int, seed: int) -> list[dict]:
    native = polisen.sample(random.Random(seed), n)
    nc = await dep.connect("polisen")
    try:
        items = [NativeRecord(value=r, position=f"mem:{i}", raw=msgspec.json.encode(r)) for i, r in enumerate(native)]
        summary = await publish_records(nc, polisen, items)
    finally:
        await nc.close()
    assert summary.published == n
    return native


async def audit_records(dep) -> list:
    return await audit_entries(dep)


async def test_an_sso_co_option_decision_changes_routing_at_once_and_a_restarted_router_rebuilds_it(
    fresh_deployment, tmp_path
):
    dep = fresh_deployment
    live, platform, router = await live_router(dep, tmp_path)
    sink = await platform.start_sink("kustbevakningen")
    try:
        before = live.version
        await polisen_publishes(dep, 2, seed=21)
        await wait_for(lambda: router.stats.records >= 2)
        await sso_publishes(dep, grant())
        await wait_for(lambda: live.version != before)
        await polisen_publishes(dep, 3, seed=22)
        await wait_for(lambda: len(sink) >= 3)
    finally:
        await platform.stop()
    received = [msgspec.json.decode(line) for line in sink.path.read_bytes().splitlines()]
    assert len(received) == 3  # only what was published after the grant
    for env in received:
        assert sorted(env["record"]) == ["control_id", "controlled_at", "location", "type", "vehicle", "vehicle_kind"]
        assert [s["type"] for s in env["subjects"]] == ["vehicle"]  # the driver is not in the grant
        assert env["handling"]["no_onward_sharing"] is True
    trail = await audit_records(dep)
    # before the grant kustbevakningen was no candidate at all; after it, each record was allowed
    first = trail[: 2 * 8]  # 2 records x (7 other participants + Transportstyrelsen, co-opted by the file)
    assert {r.policy_version for r in first} == {before} and "kustbevakningen" not in {r.recipient for r in first}
    mine = [r for r in trail if r.recipient == "kustbevakningen"]
    assert [(r.decision, r.rule, r.policy_version) for r in mine] == [
        ("allow", "cooption.bacchus-kbv", live.version)
    ] * 3

    # a restart replays the DECISIONS stream before routing: the same policy, the same version
    again = LivePolicy(SHIPPED, councils=create_council_keys(dep.state_dir))
    platform2 = Platform(dep, again, tmp_path / "received2")
    router2 = await platform2.start_router()
    try:
        await wait_for(router2.ready.is_set)
    finally:
        await platform2.stop()
    assert again.version == live.version and "bacchus-kbv" in again.grants


async def test_a_newly_registered_network_agency_can_be_co_opted_live(fresh_deployment):
    async with live_policy(fresh_deployment) as (live, rc):
        body, headers = signed(fresh_deployment, grant("tullverket_lab", basis="OSL 2009:400 10 kap. 27 §"))
        assert live.apply_decision(body, headers=headers, seq=1) is True  # accepted, but no such agency yet
        assert live.current.decide(vehicle_control(), "tullverket_lab", NOW).rule == "deny.unknown-recipient"
        reg = AgencyRegistration(slug="tullverket_lab", name="Tullverkets laboratorium", tier="network")
        await rc.jetstream().publish("registry.agencies.tullverket_lab", msgspec.json.encode(reg))
        await wait_for(lambda: "tullverket_lab" in live.current.data.agencies)
        d = live.current.decide(vehicle_control(), "tullverket_lab", NOW)
        assert (d.allow, d.rule, d.legal_basis, d.no_onward_sharing) == (
            True,
            "cooption.bacchus-kbv",
            "OSL 2009:400 10 kap. 27 §",
            True,
        )
        # offboarding: the grant lapses with the agency
        off = msgspec.structs.replace(reg, active=False)
        await rc.jetstream().publish("registry.agencies.tullverket_lab", msgspec.json.encode(off))
        await wait_for(lambda: "tullverket_lab" not in live.current.data.agencies)
        assert not live.current.decide(vehicle_control(), "tullverket_lab", NOW).allow


async def test_a_bad_decision_is_refused_and_the_policy_stays_as_it_was(fresh_deployment):
    async with live_policy(fresh_deployment) as (live, _):
        version = live.version
        await sso_publishes(fresh_deployment, grant(fields=("control_id", "shoe_size")))
        await wait_for(lambda: live.rejected)
    assert live.version == version
    assert live.rejected[0].endswith(
        "Expected a field of police.vehicle_control, got `shoe_size` - at `$.record.fields[1]`"
    )


async def test_a_council_closing_its_operation_stops_all_routing_and_the_denial_is_audited(fresh_deployment, tmp_path):
    dep = fresh_deployment
    live, platform, router = await live_router(dep, tmp_path)
    try:
        op = live.current.operation("bacchus-2017")
        closed = OperationDecision(
            operation="bacchus-2017",
            name=op.name,
            scope=op.scope,
            decided_by=op.decided_by,
            participants=op.participants,
            record_types=op.record_types,
            legal_basis=op.legal_basis,
            purposes=op.purposes,
            valid_from=op.valid_from,
            status="closed",
        )
        await sso_publishes(
            dep, Envelope(id=new_envelope_id(), record=closed, region="syd", operation="bacchus-2017", produced_at=NOW)
        )
        await wait_for(lambda: live.current.operation("bacchus-2017").status == "closed")
        native = await polisen_publishes(dep, 2, seed=23)
        await wait_for(lambda: router.stats.records >= 2)
    finally:
        await platform.stop()
    trail = await audit_records(dep)
    assert [(r.recipient, r.decision, r.rule) for r in trail] == [("-", "deny", "deny.operation-closed")] * 2
    assert router.stats.allowed == 0 and len(native) == 2


async def _in_flight(dep, *consumers: tuple[str, str, str]) -> int:
    """Messages still pending or unacknowledged on each (identity, stream, durable) consumer, summed."""
    total = 0
    for identity, stream, durable in consumers:
        nc = await dep.connect(identity)
        try:
            info = await nc.jetstream().consumer_info(stream, durable)
            total += info.num_pending + info.num_ack_pending + (0 if info.delivered.stream_seq else 1)
        finally:
            await nc.close()
    return total


async def test_policy_files_reload_while_records_flow_without_a_loss_or_a_second_delivery(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    policy_dir = tmp_path / "policy"
    shutil.copytree(SHIPPED, policy_dir)
    live = LivePolicy(policy_dir, reload_interval=0.05)
    platform = Platform(dep, live, tmp_path / "received")
    router = await platform.start_router()
    sink = await platform.start_sink("migrationsverket")
    need = policy_dir / "need_to_know.toml"
    original = need.read_text()
    original_version = live.version
    changed_version = ""  # known once the first edit is read
    try:
        await wait_for(router.ready.is_set)
        publishing = asyncio.create_task(polisen_publishes(dep, 300, seed=24))
        for i in range(6):  # migrationsverket's fields change back and forth under the flow
            text = (
                original
                if i % 2
                else original.replace(
                    'recipients = ["migrationsverket"]  # persons with an expulsion decision acting as straw buyers\n'
                    'fields = ["control_id", "controlled_at", "location", "vehicle", "vehicle_kind", "driver", "identified_passengers"]',
                    'recipients = ["migrationsverket"]\nfields = ["control_id", "controlled_at", "location", "vehicle", "vehicle_kind"]',
                )
            )
            need.write_text(text + f"\n# edit {i}\n")
            if i == 0:
                await wait_for(lambda: live.version != original_version, what="the first edit read")
                changed_version = live.version
            expected = original_version if i % 2 else changed_version
            await wait_for(lambda n=i + 2, v=expected: len(live.versions) == n and live.version == v, what=f"edit {i}")
        native = await publishing

        async def settled() -> bool:
            """the router acked all it took in, and migrationsverket's sink everything in its inbox"""
            return not await _in_flight(
                dep, (ROUTER, "INGEST_polisen", "router"), ("migrationsverket", "INBOX", "migrationsverket-sink")
            )

        await wait_for(settled, timeout=30, interval=0.1)
    finally:
        await platform.stop()
    ids = [msgspec.json.decode(line)["record"]["control_id"] for line in sink.path.read_bytes().splitlines()]
    assert sorted(ids) == sorted(r["kontrollId"] for r in native)  # each exactly once
    assert router.stats.delivered["migrationsverket"] == 300
    # each edit a new version; the same content, the same version
    assert live.versions == [original_version, changed_version] * 3 + [original_version]


def test_a_broken_policy_file_on_reload_keeps_the_last_good_policy(tmp_path):
    policy_dir = tmp_path / "policy"
    shutil.copytree(SHIPPED, policy_dir)
    live = LivePolicy(policy_dir)
    version = live.version
    ops = policy_dir / "operations.toml"
    ops.write_text(ops.read_text().replace('scope = "syd"', 'scope = "skåne"', 1))
    assert live.reload() is False
    assert live.version == version and live.versions == [version]
    assert list(live.rejected) == [
        "operations.toml: Invalid enum value 'skåne' - at `$.operations.bacchus-2017.scope` (value 'skåne')"
    ]
    ops.write_text(
        ops.read_text()
        .replace('scope = "skåne"', 'scope = "syd"')
        .replace("valid_from = 2016-11-01", "valid_from = 2016-12-01")
    )
    assert live.reload() is True and live.version != version
    assert live.current.operation("bacchus-2017").valid_from == _dt.date(2016, 12, 1)
