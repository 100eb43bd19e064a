"""Metrics on a Prometheus endpoint, scraped as a collector does, after real routing on a real nats-server."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import urllib.request

import msgspec

from samband._platform import Platform
from samband.adapters import PublishSummary, instrument_adapter, publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.broker_config import free_port
from samband.cli import cli
from samband.observability import MetricsEndpoint
from samband.testing import find_personnummer, skeleton_policy

from .._support import CommandRunner, send_as, vehicle_control, wait_for

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


async def scrape(endpoint: MetricsEndpoint) -> str:
    def get() -> str:
        with urllib.request.urlopen(endpoint.url, timeout=5) as r:
            return r.read().decode()

    return await asyncio.to_thread(get)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Each sample of ``samband_*`` as (name, its labels but the OTel scope's) -> value."""
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None or not m["name"].startswith("samband_"):
            continue
        labels = frozenset((k, v) for k, v in _LABEL.findall(m["labels"] or "") if not k.startswith("otel_scope"))
        out[(m["name"], labels)] = float(m["value"])
    return out


def at(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def test_the_routers_counters_on_the_endpoint_say_what_it_routed(fresh_deployment, tmp_path):
    dep = fresh_deployment
    await dep.provision()
    endpoint = MetricsEndpoint(free_port(), "samband-router").start()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    try:
        await platform.start_router(meter=endpoint.meter("samband.router"))
        sink = await platform.start_sink("skatteverket")
        for i in range(3):
            await send_as(dep, "polisen", vehicle_control(random.Random(i)), msg_id=f"m-{i}")
        nc = await dep.connect("polisen")
        try:
            await nc.jetstream().publish("out.police.vehicle_control", b"{not json", headers={"Nats-Msg-Id": "bad"})
        finally:
            await nc.close()
        await wait_for(lambda: len(sink) == 3 and platform.router.stats.dead_letters == 1, timeout=20)

        async def all_counted() -> bool:
            found = samples(await scrape(endpoint))
            return at(found, "samband_router_dead_letters_total", origin="polisen") == 1

        await wait_for(all_counted, timeout=10, interval=0.1)
        text = await scrape(endpoint)
    finally:
        await platform.stop()
        endpoint.stop()
    found = samples(text)
    assert at(found, "samband_router_records_total", origin="polisen") == 4
    rule = "bacchus-2017/skeleton.vehicle-control.skatteverket"
    assert at(found, "samband_router_decisions_total", decision="allow", rule=rule) == 3
    assert at(found, "samband_router_decisions_total", decision="deny", rule="deny.invalid-envelope") == 1
    assert at(found, "samband_router_deliveries_total", recipient="skatteverket") == 3
    assert at(found, "samband_router_held_total", reason="refused") == 1
    assert at(found, "samband_router_audit_entries_total") == 4
    assert at(found, "samband_router_ingest_lag", origin="polisen") == 0
    appends = at(found, "samband_router_audit_append_duration_seconds_count")
    assert appends is not None and appends >= 1
    assert at(found, "samband_router_audit_append_duration_seconds_sum") > 0  # type: ignore[operator]
    # what a label may hold: agency slugs, rule ids, outcomes; never a person
    assert find_personnummer(text) == []
    values = {v for (_, labels) in found for (k, v) in labels if k != "le"}
    buckets = {v for (_, labels) in found for (k, v) in labels if k == "le"}
    assert {"0.001", "1.0", "10.0", "+Inf"} <= buckets  # seconds, not the SDK's millisecond buckets
    assert values <= {"polisen", "skatteverket", rule, "deny.invalid-envelope", "allow", "deny"} | {
        "quarantined",
        "parked",
        "repeat",
        "refused",
    }


async def test_an_adapters_counters_say_what_became_of_its_export(bus, tmp_path):
    native = polisen.sample(random.Random(11), 4, operation="bacchus-2017")
    export = tmp_path / "polisen.jsonl"
    export.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in native) + b'{"kontrollId": \n')
    endpoint = MetricsEndpoint(free_port(), "samband-adapter-polisen").start()
    nc = await bus.connect("polisen")
    try:
        counted = PublishSummary()
        instrument_adapter(endpoint.meter("samband.adapter"), "polisen", counted, None)
        summary = await publish_records(nc, polisen, read_jsonl(export), summary=counted)
        text = await scrape(endpoint)
    finally:
        await nc.close()
        endpoint.stop()
    assert summary is counted
    found = samples(text)
    assert at(found, "samband_adapter_records_total", agency="polisen", outcome="read") == 5
    assert at(found, "samband_adapter_records_total", agency="polisen", outcome="published") == 4
    assert at(found, "samband_adapter_records_total", agency="polisen", outcome="dead_letter") == 1
    assert find_personnummer(text) == []


def test_a_metrics_port_already_taken_is_one_line_and_nothing_starts(bus, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for argv in (["router", "run"], ["up", "--port", str(free_port()), "--http-port", str(free_port())]):
            state = bus.state_dir if argv[0] == "router" else tmp_path / "new"
            result = CommandRunner().invoke(cli, ["--state-dir", str(state), *argv, "--metrics-port", str(port)])
            assert isinstance(result.exception, SystemExit), result.exception
            assert (result.exit_code, result.stderr) == (
                1,
                f"Error: Expected 127.0.0.1:{port} free for the metrics endpoint (--metrics-port), got it in use: "
                "give another port, or leave --metrics-port out\n",
            )
        assert not (tmp_path / "new" / "deployment.json").exists()  # `up` refused before making anything
