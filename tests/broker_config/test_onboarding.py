"""Network agencies join with one file, live: no restart, nothing in flight lost, isolated like the others."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import msgspec
import nats
import pytest

from samband.adapters import mapping_for, native_format, publish_records, read_file, write_export
from samband.broker_config import ROUTER, Deployment, OnboardingError, offboard, onboard, registration_subject
from samband.schemas import AgencyRegistration
from samband.testing import NETWORK_AGENCIES

from .._support import wait_for
from ._records import vehicle_control_bytes

ONBOARDING = Path(__file__).resolve().parents[2] / "examples" / "onboarding"
NINE = NETWORK_AGENCIES
REGISTRATION = msgspec.json.Decoder(AgencyRegistration)


class Traffic:
    """Keeps publishing while the broker reloads: Polisen into the router's INGEST, the router into Skatteverket's INBOX."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.acked = {"polisen": 0, "router": 0}
        self.errors: list[str] = []

    async def run(self, nc: nats.NATS, subject: str, who: str, prefix: str) -> None:
        js, rng, i = nc.jetstream(), random.Random(who), 0
        while not self.stop.is_set():
            _, data = vehicle_control_bytes(rng)
            try:
                await js.publish(subject, data, headers={"Nats-Msg-Id": f"{prefix}-{who}-{i}"}, timeout=5)
                self.acked[who] += 1
            except Exception as exc:
                self.errors.append(f"{who} #{i}: {exc!r}")
            i += 1


async def _messages(dep: Deployment, identity: str, stream: str, subject: str | None = None) -> int:
    nc = await dep.connect(identity)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=subject)
        return info.state.messages if subject is None else sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def _can_publish_and_receive(dep: Deployment, slug: str, router: nats.NATS, tmp_path: Path) -> None:
    """It publishes through its declarative adapter (the mapping its file names) and receives in its inbox."""
    mapping = mapping_for(slug, mapping_file=ONBOARDING / "mappings" / f"{slug}.toml")
    export = write_export(mapping, mapping.sample(random.Random(slug), 3), tmp_path / slug)
    nc = await dep.connect(slug)
    try:
        summary = await publish_records(nc, mapping, read_file(export, native_format(mapping)))
        assert (summary.read, summary.published, summary.rejected) == (3, 3, [])
        subjects = f"ingest.{slug}.{mapping.spec.record_type}"
        # seen by the router as from `slug`, in `slug`'s own ingest stream (its quota)
        assert await _messages(dep, ROUTER, f"INGEST_{slug}", subjects) == 3
        ack = await router.jetstream().publish(
            f"inbox.{slug}.outcome", b'{"delivered": 1}', headers={"Nats-Msg-Id": f"deliver-{slug}"}
        )
        assert ack.stream == "INBOX"  # the PubAck comes from the agency's own inbox stream
        msg = await nc.jetstream().get_msg("INBOX", ack.seq)
        assert (msg.subject, msg.data) == ("in.outcome", b'{"delivered": 1}')
    finally:
        await nc.close()


async def _isolated(dep: Deployment, slug: str, others: list[str]) -> None:
    seen: list[str] = []

    async def cb(exc):
        seen.append(str(exc))

    nc = await dep.connect(slug, error_cb=cb)
    try:
        expected = set()
        for other in others:
            for subject in (f"ingest.{other}.outcome", f"inbox.{other}.outcome"):
                await nc.publish(subject, b"{}")
                expected.add(f'nats: permissions violation for publish to "{subject}"')
            await nc.subscribe(f"inbox.{other}.>")
            expected.add(f'nats: permissions violation for subscription to "inbox.{other}.>"')
        await nc.publish("$JS.API.STREAM.DELETE.INBOX", b"", reply=nc.new_inbox())
        expected.add('nats: permissions violation for publish to "$js.api.stream.delete.inbox"')
        await nc.flush()
        await wait_for(lambda: expected <= set(seen), timeout=5)
    finally:
        await nc.close()


async def test_the_nine_network_agencies_onboard_one_after_another_while_traffic_flows(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    traffic = Traffic()
    polisen, router = await dep.connect("polisen"), await dep.connect(ROUTER)
    tasks = [
        asyncio.create_task(traffic.run(polisen, "out.police.vehicle_control", "polisen", "onb")),
        asyncio.create_task(traffic.run(router, "inbox.skatteverket.police.vehicle_control", "router", "onb")),
    ]
    try:
        await wait_for(lambda: min(traffic.acked.values()) > 20)
        for slug in NINE:
            before = dict(traffic.acked)
            result = await onboard(dep, ONBOARDING / f"{slug}.toml")
            assert result.agency.slug == slug and result.seed_file.stat().st_mode & 0o777 == 0o600
            assert result.adapter_command.endswith(f"adapter run {slug} --sink {dep.state_dir / 'received'}")
            assert result.agency.mapping == str((dep.state_dir / "mappings" / f"{slug}.toml").resolve())
            # traffic kept flowing through the reload
            await wait_for(lambda before=before: all(traffic.acked[k] > before[k] + 5 for k in before))
    finally:
        traffic.stop.set()
        await asyncio.gather(*tasks)
    try:
        assert traffic.errors == []
        assert (polisen.stats["reconnects"], router.stats["reconnects"]) == (0, 0)  # never dropped by a reload
        # nothing in flight was lost: every acked publish is in its stream, exactly once
        assert await _messages(dep, ROUTER, "INGEST_polisen", "ingest.polisen.>") == traffic.acked["polisen"]
        assert await _messages(dep, "skatteverket", "INBOX") == traffic.acked["router"]
        for slug in NINE:
            await _can_publish_and_receive(dep, slug, router, tmp_path)
            await _isolated(dep, slug, [s for s in dep.agencies if s != slug])
        js = router.jetstream()
        regs = [REGISTRATION.decode((await js.get_last_msg("REGISTRY", registration_subject(s))).data) for s in NINE]
        assert [(r.slug, r.tier, r.active) for r in regs] == [(s, "network", True) for s in NINE]
    finally:
        await polisen.close()
        await router.close()
    assert sorted(Deployment.load(dep.state_dir).agencies) == sorted(dep.agencies)  # what `samband up` restarts with
    assert len(dep.agencies) == 30  # the 21 agencies and the 9 centres


async def test_an_offboarded_agency_is_disconnected_live_and_its_registration_goes_inactive(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    await onboard(dep, ONBOARDING / "csn.toml")
    closed = asyncio.Event()
    errors: list[str] = []

    async def on_error(exc):
        errors.append(str(exc))

    async def on_disconnect():
        closed.set()

    csn = await dep.connect("csn", error_cb=on_error, disconnected_cb=on_disconnect, max_reconnect_attempts=0)
    polisen = await dep.connect("polisen")
    try:
        await offboard(dep, "csn")
        await asyncio.wait_for(closed.wait(), 10)
        assert "csn" not in dep.agencies and not dep.seed("csn").exists()
        assert "csn" not in Deployment.load(dep.state_dir).agencies
        assert polisen.is_connected and polisen.stats["reconnects"] == 0
        ack = await polisen.jetstream().publish("out.outcome", b"{}", headers={"Nats-Msg-Id": "after-offboard"})
        assert ack.stream == "INGEST_polisen"
        rc = await dep.connect(ROUTER)
        try:
            reg = REGISTRATION.decode((await rc.jetstream().get_last_msg("REGISTRY", registration_subject("csn"))).data)
            assert (reg.slug, reg.active) == ("csn", False)
        finally:
            await rc.close()
        with pytest.raises(OnboardingError) as err:
            await offboard(dep, "csn")
        assert str(err.value).startswith("Expected an agency on the bus (aklagarmyndigheten, ")
        assert str(err.value).endswith("got 'csn'")
    finally:
        await csn.close()
        await polisen.close()


async def test_a_reload_the_server_refuses_leaves_the_running_broker_on_its_last_good_config(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    good = dep.config_file.read_text()
    # The client port cannot change on a reload: nats-server refuses, `nats-server -t` does not see it.
    stale = Deployment.load(dep.state_dir)
    stale.port = dep.port + 1 if dep.port < 65000 else dep.port - 1
    with pytest.raises(OnboardingError) as err:
        await onboard(stale, ONBOARDING / "ivo.toml")
    message = str(err.value)
    assert message.startswith(
        f"{ONBOARDING / 'ivo.toml'}: Expected the broker to accept the configuration with `ivo` added, got "
        "nats-server refused the new configuration and keeps its last good one: "
    )
    assert "config reload not supported for Port" in message
    assert dep.config_file.read_text() == good
    assert "ivo" not in Deployment.load(dep.state_dir).agencies and not dep.seed("ivo").exists()
    nc = await dep.connect("polisen")  # still serving on the last good config
    try:
        ack = await nc.jetstream().publish("out.outcome", b"{}", headers={"Nats-Msg-Id": "after-refused-reload"})
        assert ack.stream == "INGEST_polisen"
    finally:
        await nc.close()


async def test_two_onboardings_started_from_the_same_snapshot_both_land(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    # two `samband onboard` commands, each holding the deployment as it was when it started
    first, second = Deployment.load(dep.state_dir), Deployment.load(dep.state_dir)
    await asyncio.gather(onboard(first, ONBOARDING / "sis.toml"), onboard(second, ONBOARDING / "ivo.toml"))
    on_disk = Deployment.load(dep.state_dir).agencies
    assert {"sis", "ivo"} <= set(on_disk) and len(on_disk) == 23  # 21 shipped + 2
    for slug in ("sis", "ivo"):
        nc = await dep.connect(slug)
        try:
            assert (
                await nc.jetstream().publish("out.outcome", b"{}", headers={"Nats-Msg-Id": f"both-{slug}"})
            ).stream == f"INGEST_{slug}"
        finally:
            await nc.close()
