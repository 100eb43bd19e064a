"""A demo run's logs (at debug), traces and audit trail hold no personnummer in clear text, scanned with the
suite's detector (`samband.testing.find_personnummer`), not the scrubber's own pattern."""

from __future__ import annotations

import io

import pytest

from samband._demo import BACCHUS_RECIPIENTS, write_polisen_export
from samband._platform import Platform, shipped_policy_dir
from samband.adapters import publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER, Agency, Deployment, builtin_agencies
from samband.observability import configure_logging
from samband.observability.audit import read_log
from samband.observability.bus import read_range
from samband.router import LivePolicy
from samband.testing import assert_no_personnummer, find_personnummer

from .._support import wait_for


@pytest.fixture
def demo_deployment(tmp_path):
    agencies = builtin_agencies()
    agencies.setdefault(
        "transportstyrelsen", Agency(slug="transportstyrelsen", name="Transportstyrelsen", tier="network")
    )
    dep = Deployment(tmp_path / "state", agencies=agencies.values())
    dep.start()
    try:
        yield dep
    finally:
        dep.stop()


async def test_a_demo_run_leaves_no_personnummer_in_clear_text_in_logs_traces_or_audit(
    demo_deployment, spans, tmp_path
):
    dep = demo_deployment
    export = tmp_path / "polisen.jsonl"
    write_polisen_export(export, 60, seed=99)
    assert len(find_personnummer(export.read_text())) >= 30, "the scan needs personnummer to look for"

    logs = io.StringIO()
    configure_logging(level="debug", json=True, stream=logs)
    try:
        await dep.provision()
        platform = Platform(dep, LivePolicy(shipped_policy_dir()), tmp_path / "received")
        router = await platform.start_router()
        for agency in BACCHUS_RECIPIENTS:
            await platform.start_sink(agency)
        nc = await dep.connect("polisen")
        try:
            published = (await publish_records(nc, polisen, read_jsonl(export))).published
        finally:
            await nc.close()
        await wait_for(
            lambda: (
                router.stats.records >= published
                and sum(len(s) for s in platform.sinks.values()) >= sum(router.stats.delivered.values()) > 0
            ),
            timeout=30,
        )
        await platform.stop()
    finally:
        configure_logging(level="warning", json=True)
    rc = await dep.connect(ROUTER)
    try:
        log = await read_log(rc)
        info = await rc.jetstream().stream_info("RECEIPTS")
        receipts = await read_range(rc, "RECEIPTS", 1, info.state.last_seq) if info.state.messages else []
    finally:
        await rc.close()
    assert len(log.entries) >= published and log.checkpoints
    # the recipients did get the personnummer (they need it) - the scan is not vacuous
    delivered = "".join(p.read_text() for p in (tmp_path / "received").glob("*.jsonl"))
    assert find_personnummer(delivered)

    scanned = {
        "logs": logs.getvalue(),
        "traces": "\n".join(s.to_json() for s in spans.get_finished_spans()),
        "audit": b"\n".join(log.entries + [n for _, n in log.checkpoints] + receipts).decode(),
    }
    assert scanned["logs"] and scanned["traces"]
    for where, text in scanned.items():
        assert_no_personnummer(text, f"the {where}")
