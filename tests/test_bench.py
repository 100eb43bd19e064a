"""`samband bench` runs end to end on its own embedded broker and reports what it measured.

Behaviour only: which figures and targets come out, never how fast (speed claims live in the
bench's own ratios, measured in one run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from samband.testing import assert_no_personnummer


def bench(*args: str, timeout: float) -> tuple[dict, str]:
    """``samband bench ARGS --json`` as its own process: the JSON it prints and its stderr (the table)."""
    proc = subprocess.run(
        [sys.executable, "-m", "samband", "bench", *args, "--json"], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_personnummer(proc.stdout + proc.stderr, f"the output of `samband bench {' '.join(args)}`")
    return json.loads(proc.stdout), proc.stderr


# The rows of the issue's table (#20), in its order.
EXPECTED_TARGETS = [
    "Bacchus fan-out",  # then the fan-out the run measured: "… 7, audited deliveries/s / raw JetStream …"
    "fan-out 1, records/s / raw JetStream windowed publish",
    "fan-out 1 / FastStream decode + republish",
    "p99 adapter publish -> inbox ack at",  # then the rate the run offered: "… at 200/s"
    "policy decision (Operation Bacchus)",
    "audit verify / bare sha256 loop, same 100,000 leaves",
]


@pytest.mark.timeout(330)  # a shared 2-core machine can be slow; the bench itself is what's measured, not this test
def test_bench_prints_baselines_samband_and_the_issues_goals_as_json_and_profiles_the_router(tmp_path):
    out, profile = tmp_path / "bench.json", tmp_path / "router.prof"
    result, stderr = bench(
        "--records", "200", "--latency", "1", "--rate", "200", "--out", str(out), "--profile", str(profile), timeout=300
    )
    assert json.loads(out.read_text()) == result

    assert {"core", "jetstream", "jetstream_rtt", "faststream"} <= set(result["baselines"])
    for name in ("core", "jetstream"):
        fig = result["baselines"][name]
        # core is at most once: once in a full suite a whole run of it was lost. The bench now times it
        # only after a probe crossed (a broken path fails the run), so a loss is core NATS's own, which
        # the figure's note says (below); what did arrive must make a figure
        if fig["records"]:
            assert fig["rate_in"] > 0 and fig["p99_ms"] >= fig["p50_ms"] > 0, (fig, stderr[-3000:])
    assert result["baselines"]["jetstream"]["records"] == 200  # acknowledged: none may be missing
    after = result["baselines"]["jetstream_after"]  # measured again after samband's runs, ratios against the mean
    assert after["records"] == 200 and after["name"].endswith("again after samband's runs")
    core = result["baselines"]["core"]  # at most once: a loaded machine may drop a few, which the figure says
    assert core["records"] == 200 or core["note"] == f"{200 - core['records']} lost (core NATS drops under load)", core
    rtt = result["baselines"]["jetstream_rtt"]  # the floor the latency target is judged against
    assert rtt["records"] == 300 and rtt["p99_ms"] >= rtt["p50_ms"] > 0
    append = result["baselines"]["append_rtt"]  # and the audit append between two such stores
    assert append["committed"] == append["batches"] == 200 and append["p99_ms"] >= append["p50_ms"] > 0

    traced = result["samband"]["fanout1_traced"]
    assert traced["records"] == 200 and traced["fanout"] == 1.0 and traced["rate_out"] > 0
    assert result["samband"]["fanout1_sampled"]["records"] == 200
    bare = result["router_bare"]["router"]  # the audit + tracing cost run: no audit append, no spans
    assert result["samband"]["fanout1_bare"]["records"] == 200 and bare["audited"] == 0 and bare["spans"] == 0
    assert "audit + tracing: all traced with every audit record appended runs at" in stderr.replace("\n", " ")
    router = result["router"]["router"]
    # every record decided, audited and delivered once, in the router's own process
    assert router["records"] == router["audited"] == sum(router["delivered"].values()) == 200
    assert router["peak_rss_kib"] > 0 and router["spans"] > 0
    assert result["router_sampled"]["router"]["spans"] < router["spans"]
    cpu = result["router"]["cpu_us_per_record"]  # where the CPU goes, per process, per record
    assert set(cpu) == {"adapter", "router", "broker"} and all(v > 0 for v in cpu.values()), cpu
    assert set(result["cpu_us_per_message_jetstream"]) == {"client", "broker"}
    assert "2 cores carry at most" in stderr.replace("\n", " ") or os.cpu_count() != 2

    # the latency goal's run offers each record when due, after a warm-up that is not counted; the
    # same run in chunks of ten, and a bare relay at the same offer, are measured beside it
    latency, chunks = result["latency"], result["latency_chunks"]
    assert latency["records"] == 200 and latency["p99_ms"] >= latency["p50_ms"] > 0
    assert latency["fanout"] == 1.0 and latency["name"] == "samband at 200/s offered (each when due), 1 s"
    assert result["latency_detail"]["offer"] == "even" and result["latency_detail"]["warm_up_records"] == 100
    assert chunks["records"] == 200 and chunks["fanout"] == 1.0 and chunks["p99_ms"] >= chunks["p50_ms"] > 0
    relay = result["baselines"]["relay_at_rate"]
    assert relay["records"] == 200 and relay["note"] == "" and relay["p99_ms"] >= relay["p50_ms"] > 0
    assert result["router"]["records_made"] == "before the clock"

    names = [t["name"] for t in result["targets"]]
    assert len(names) > len(EXPECTED_TARGETS)
    assert all(name.startswith(want) for name, want in zip(names, EXPECTED_TARGETS, strict=False)), names
    assert all(t["met"] in (True, False, None) for t in result["targets"])
    # each goal with the figure it is judged on, measured in this run: ``a / b = ratio`` for the ratios
    bacchus, fanout1 = result["targets"][0], result["targets"][1]
    assert bacchus["met"] is not None and bacchus["now"].endswith(f"= {bacchus['value']:.2f}")
    raw = (result["baselines"]["jetstream"]["rate_in"] + after["rate_in"]) / 2
    assert bacchus["value"] == pytest.approx(result["samband"]["bacchus_traced"]["rate_out"] / raw, rel=1e-3)
    assert bacchus["note"].startswith("raw: ") and "/s after" in bacchus["note"]
    assert fanout1["met"] is not None and " / " in fanout1["now"]
    p99 = result["targets"][3]
    assert "each record offered when due, as a followed source reads them; ten every 10 ms: p50 " in p99["note"]
    assert "the same offer through a bare relay (3 acknowledged stores in turn, 3 processes): p50 " in p99["note"]
    assert result["micro"]["policy_us_per_decision"] > 0 and result["micro"]["audit_verify_vs_bare"] > 0
    assert "goals of #20" in stderr and ("MET" in stderr or "MISSED" in stderr)
    bc = result["router_bacchus"]["cpu_us_per_record"]
    assert set(bc) == {"adapter", "router", "broker"}
    # the design that would reach the Bacchus goal, measured beside it (bench only): every copy counted
    bundled, plain = result["samband"]["bacchus_bundled"], result["samband"]["bacchus_traced"]
    assert bundled["records"] == 200 and bundled["fanout"] == plain["fanout"] > 1
    assert sum(result["router_bacchus_bundled"]["router"]["delivered"].values()) == plain["fanout"] * 200
    assert f"not samband's contract): {bundled['rate_out']:,.0f} / " in bacchus["note"]
    assert "deliveries bundled (bench only)" in stderr.replace("\n", " ")
    # the Bacchus run's router profiled: its stats file, and its top entries shown
    import pstats

    stats = pstats.Stats(str(profile))
    assert any(fn.endswith("_plan.py") for fn, _, _ in stats.stats)  # type: ignore[attr-defined]
    assert "router profile, Bacchus run" in stderr and "tottime" in stderr


@pytest.mark.timeout(300)
def test_bench_audit_compares_verify_with_a_bare_loop_reads_the_log_and_times_the_person_query():
    r, stderr = bench("audit", "--records", "3000", "--batch", "300", "--queries", "5", timeout=280)
    assert r["records"] == 3000 and r["checkpoints"] == 10 and r["verified_ok"] and r["read_exact"]
    assert r["verify_per_s"] > 0 and r["bare_sha256_per_s"] > 0 and r["verify_vs_bare"] > 0
    assert r["build_per_s"] > 0 and r["read_per_s"] > 0 and r["index_per_s"] > 0 and r["index_error"] == ""
    assert r["queries"] == 5 and r["query_max_ms"] >= r["query_p50_ms"] > 0 and r["hits_per_query"] > 0
    assert "process_error" not in r and r["process_ms"] > 0
    assert "audit verify / bare sha256 loop" in stderr and "person query over 3,000 entries" in stderr
    assert "read 1M entries into the query index" in stderr


@pytest.mark.timeout(200)
def test_bench_memory_reports_the_routers_resident_memory_as_records_go_through(tmp_path):
    result, stderr = bench("memory", "--records", "2000", timeout=180)
    assert result["figure"]["records"] == 2000
    assert result["router"]["records"] == result["router"]["audited"] == 2000
    samples = result["router_rss_kib"]
    assert samples and all(kib > 0 for _, kib in samples)
    assert [n for n, _ in samples] == sorted(n for n, _ in samples)  # records acked so far, never going back
    # too few records to judge growth: said so, not guessed
    assert result["target"]["met"] is None and "judged with --records >= 100000" in result["target"]["note"]
    assert "router peak RSS" in stderr


@pytest.mark.timeout(120)
def test_bench_adapters_compares_the_traced_adapter_with_the_same_messages_published_raw():
    result, stderr = bench("adapters", "--records", "300", "--rounds", "1", timeout=110)
    assert result["adapter"]["records"] == result["raw_jetstream"]["records"] == 300
    assert result["spans_exported"] == 300, "tracing is on: one PRODUCER span per record"
    assert result["ratio"] == pytest.approx(result["adapter"]["rate_in"] / result["raw_jetstream"]["rate_in"], rel=1e-4)
    assert result["met"] is (result["ratio"] >= 0.5) and len(result["rounds"]) == 1
    assert result["pipeline"]["records"] == 300  # the same messages through samband's own publish path, beside it
    assert result["adapter_vs_pipeline"] == pytest.approx(
        result["adapter"]["rate_in"] / result["pipeline"]["rate_in"], rel=1e-4
    )
    assert "tracing ON" in stderr and ("MET" in stderr or "MISSED" in stderr)


def test_bench_policy_replays_audited_decisions_against_decoding_the_same_entries():
    r, stderr = bench("policy", "--records", "500", timeout=280)
    rp = r["replay"]
    assert rp["entries"] == 500 * 8 and rp["records"] == 500  # the shipped Bacchus: 8 recipients a record
    assert rp["added"] > 0  # the proposal's co-option adds the vehicle controls
    assert rp["replayed_per_s"] > 0 and rp["decoded_per_s"] > 0 and rp["ratio_to_decode"] > 0
    assert "audited decisions replayed per second" in stderr and "replay / decode of the same entries" in stderr


@pytest.mark.timeout(120)
def test_bench_shim_compares_the_shims_paths_with_nats_pys_public_one_on_the_same_messages():
    r, stderr = bench("shim", "--records", "300", "--rounds", "1", timeout=110)
    assert [(w["framed"], w["routed"]) for w in r["ways"]] == [(False, False), (True, False), (True, True)]
    assert all(w["stored"] == 300 and w["rate"] > 0 and w["client_cpu_us"] > 0 for w in r["ways"]), r["ways"]
    assert [p["routed"] for p in r["pull"]] == [False, True] and all(p["stored"] == 300 for p in r["pull"])
    assert "CPU saved per message by the framed write" in stderr


def test_a_query_process_that_does_not_answer_in_time_is_a_figure_s_error_not_a_traceback(monkeypatch, tmp_path):
    import random

    from samband.bench import _audit
    from samband.schemas import synthetic_personnummer

    monkeypatch.setattr(_audit, "QUERY_PROCESS_TIMEOUT_S", 0.01)
    said = _audit._query_process(tmp_path, synthetic_personnummer(random.Random(1)))
    assert said == "Expected an answer within 0.01 s, got none: the process was stopped"


@pytest.mark.timeout(150)
def test_bench_stores_measures_each_kind_of_store_the_broker_is_asked_for_and_a_records_latency_floor_on_r1_and_r3():
    r, stderr = bench("stores", "--messages", "300", "--round-trips", "10", "--cluster", timeout=140)
    rows = {row["key"]: row for row in r["rows"]}
    assert list(rows) == [
        "same", "delivery", "ingest", "claim", "bundle", "delivery_unanswered", "append", "append_atomic"
    ]  # fmt: skip
    assert all(row["stored"] == row["messages"] and row["rate"] > 0 for row in r["rows"]), r["rows"]
    assert rows["same"]["messages"] == 300 and rows["append"]["messages"] == 10 * 5  # five messages an append
    # bundles are counted per copy: 300 // 32 = 9 bundles of 32 copies, each stored once
    assert rows["bundle"]["copies"] == r["bundle_copies"] == 32 and rows["bundle"]["messages"] == 9 * 32
    assert "a delivery in a bundle of 32 against one alone, nats-server CPU" in stderr
    assert r["recipients"] == sorted(r["recipients"]) and len(r["recipients"]) == 7  # Operation Bacchus's fan-out
    commit, plain = r["append_rtt"], r["store_rtt"]
    assert commit["committed"] == commit["batches"] == 10 and commit["p99_ms"] >= commit["p50_ms"] > 0
    atomic = r["append_atomic_rtt"]  # the append as it was, to compare: every batch committed too
    assert atomic["committed"] == atomic["batches"] == 10 and atomic["p99_ms"] >= atomic["p50_ms"] > 0
    assert r["floor_p50_ms"] == pytest.approx(2 * plain["p50_ms"] + commit["p50_ms"])
    assert r["fsync"]["writes"] == 200 and r["fsync"]["p99_ms"] >= r["fsync"]["p50_ms"] > 0
    if sys.platform == "linux":  # nats-server's CPU comes from /proc
        assert all(row["broker_cpu_us"] is not None for row in r["rows"])
        import_cost = rows["delivery"]["broker_cpu_us"] - rows["same"]["broker_cpu_us"]
        assert r["import_cost_us"] == pytest.approx(import_cost, abs=1e-5)  # the JSON's floats have 6 decimals
    assert "a record's latency floor: ingest, audit append, inbox in turn" in stderr
    # the same round trips on the production layout: three local nodes, streams of three replicas
    cluster = r["cluster"]
    assert cluster["nodes"] == 3 and cluster["append_rtt"]["committed"] == cluster["append_rtt"]["batches"] == 10
    assert cluster["store_rtt"]["p99_ms"] >= cluster["store_rtt"]["p50_ms"] > 0
    assert cluster["append_atomic_rtt"]["committed"] == 10
    assert "R3: an audit append, one at a time" in stderr and "R3: the same as one atomic batch" in stderr


async def test_deliveries_sent_with_no_answer_that_are_not_stored_are_counted_missing_not_waited_for(
    fresh_deployment,
):
    import time

    from samband.bench._stores import Clock, unanswered
    from samband.broker_config import ROUTER
    from samband.observability.bus import AckPipeline

    await fresh_deployment.provision()
    slug = sorted(fresh_deployment.agencies)[0]
    nc = await fresh_deployment.connect(ROUTER)
    pipe = AckPipeline(nc)
    # each message id twice: the second copy is a duplicate the INBOX drops without a word
    items = [(f"inbox.{slug}.bench", b'{"n": %d}' % i, {"Nats-Msg-Id": f"twice-{i % 3}"}) for i in range(6)]
    started, clock = time.monotonic(), Clock(None)
    stored = await unanswered(pipe, fresh_deployment, [slug], items, clock, wait=0.5)
    await nc.close()
    assert stored == 3
    assert time.monotonic() - started < 10  # gave up after its wait, not after the default minute
    assert clock.row("deliveries", 6, stored)["stored"] == 3


def test_a_missed_latency_goal_names_its_floor_the_audit_append_between_two_stores():
    from samband.bench._report import _floor_note

    one = {"p50_ms": 0.12, "p99_ms": 0.31}
    assert _floor_note(one, {"p50_ms": 2.5, "p99_ms": 4.25}) == (
        "floor here: ingest, then the audit append (p50 2.50 ms, p99 4.25 ms alone), then inbox "
        "(one store alone p50 0.12 ms, p99 0.31 ms): p50 2.74 ms (samband bench stores)"
    )
    # a result of an older bench, without the append's figure: the stores alone
    assert _floor_note(one, None) == (
        "floor here: 3 acknowledged stores in sequence (ingest, audit, inbox), one store alone p50 0.12 ms, p99 0.31 ms"
    )


def test_the_latency_goal_says_how_its_records_were_offered_and_what_was_measured_beside_it():
    from samband.bench._report import _offer_notes

    even = {
        "latency": {"p50_ms": 1.2},
        "latency_detail": {"offer": "even"},
        "latency_chunks": {"p50_ms": 3.31, "p99_ms": 6.04},
        "baselines": {"relay_at_rate": {"p50_ms": 0.52, "p99_ms": 1.26}},
    }
    assert _offer_notes(even) == [
        "each record offered when due, as a followed source reads them",
        "ten every 10 ms: p50 3.3 ms, p99 6.0 ms",
        "the same offer through a bare relay (3 acknowledged stores in turn, 3 processes): p50 0.5 ms, p99 1.3 ms",
    ]
    # a result of an older bench offered ten every 10 ms and measured nothing beside it
    assert _offer_notes({"latency": {"p50_ms": 3.0}, "baselines": {}}) == ["offered ten records every 10 ms"]
    assert _offer_notes({"latency": None, "baselines": {}}) == []


async def test_a_latency_run_with_an_offer_it_does_not_know_is_refused_before_anything_starts():
    from samband.bench._e2e import E2E

    with pytest.raises(ValueError) as err:
        await E2E(None).at_rate(1000, 1, offer="bursts")  # type: ignore[arg-type]  # never reaches the broker
    assert str(err.value) == "Expected an offer in ['chunks', 'even'], got 'bursts'"


@pytest.mark.timeout(30)
async def test_a_bench_process_that_ends_or_says_something_else_before_ready_is_an_error_naming_it():
    from samband.bench._child import BenchProcess, BenchProcessFailed

    # a relay on a state directory that does not exist: it fails at start and says why, without a traceback
    with pytest.raises(BenchProcessFailed) as err:
        async with BenchProcess("samband.bench._relay", "/nonexistent/samband-state", what="relay"):
            pass
    assert err.value.format_message() == (
        "Expected `ready` from the relay process, got b'': FileNotFoundError: [Errno 2] No such file or "
        "directory: '/nonexistent/samband-state/deployment.json'"
    )
    # a process that prints something else first is stopped, not waited for
    with pytest.raises(BenchProcessFailed) as err:
        async with BenchProcess("json.tool", "--help", what="router"):
            pass
    assert err.value.format_message().startswith("Expected `ready` from the router process, got b'usage: ")


def test_ratios_of_an_older_result_with_one_raw_baseline_are_taken_against_it_alone():
    from samband.bench._report import _raw_note, raw_rate

    one = {"baselines": {"jetstream": {"rate_in": 30_000.0}}}
    assert raw_rate(one) == 30_000.0 and _raw_note(one) == ""
    both = {"baselines": {"jetstream": {"rate_in": 24_000.0}, "jetstream_after": {"rate_in": 36_000.0}}}
    assert raw_rate(both) == 30_000.0
    assert _raw_note(both) == "raw: 24,000/s before samband's runs, 36,000/s after"
    # with the bundled Bacchus run beside samband's, its ratio against the same raw figure
    both["samband"] = {"bacchus_bundled": {"rate_out": 21_000.0}}
    assert _raw_note(both) == (
        "raw: 24,000/s before samband's runs, 36,000/s after; one inbox message per recipient and batch "
        "(bench only, not samband's contract): 21,000 / 30,000 = 0.70"
    )


async def test_a_cluster_whose_streams_cannot_be_made_fails_with_the_brokers_words_after_its_wait(bus, monkeypatch):
    import time

    from nats.js.api import StreamConfig

    from samband.bench import _stores_cluster
    from samband.broker_config import ROUTER, BrokerUnavailable

    # the session's broker is one server: it never places a stream of three replicas
    monkeypatch.setattr(_stores_cluster, "READY_S", 0.5)
    nc = await bus.connect(ROUTER)
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailable, match=r"^Expected stream BENCH_R3 created or updated, got "):
            await _stores_cluster._made(nc, StreamConfig(name="BENCH_R3", subjects=["bench.r3.>"]))
    finally:
        await nc.close()
    assert time.monotonic() - started < 10


def test_cpu_per_record_is_read_finer_than_a_clock_tick_and_a_count_that_went_backwards_is_not_a_figure():
    import time

    from samband.bench._env import cpu_per_item, cpu_seconds

    # a 200-record run spends about one 10 ms clock tick in the adapter: its CPU is read to the nanosecond
    before = cpu_seconds()
    end = time.process_time() + 0.002
    while time.process_time() < end:
        pass
    spent = cpu_seconds() - before  # type: ignore[operator]
    assert 0.002 <= spent < 0.01
    # another process: the scheduler's count of its threads, which only grows while they live
    other = cpu_seconds(1)
    assert other is not None and other > 0
    # a thread that ended between two snapshots took its count along: no figure rather than a wrong one
    assert cpu_per_item({"a": 1.0, "b": None, "c": 2.0}, {"a": 1.5, "b": 1.0, "c": 1.0}, 10) == {
        "a": 50_000.0,
        "b": None,
        "c": None,
    }


async def test_bench_only_bundles_put_every_copy_in_its_inbox_once_and_a_bundle_too_large_is_parked_copy_by_copy(
    fresh_deployment, tmp_path
):
    """The bench's bundling deliverer (the design it measures, samband/bench/_bundles.py) loses and
    doubles nothing: a bundle larger than the recipient's INBOX takes is refused, each of its copies
    is parked and then delivered alone, and the audit trail has one entry per record."""
    import dataclasses
    import random

    from samband._platform import Platform
    from samband.adapters import NativeRecord, publish_records
    from samband.adapters.agencies import polisen
    from samband.bench._bundles import BundlingDeliverer, copies
    from samband.broker_config import agency_steward
    from samband.schemas import ENVELOPE
    from samband.testing import skeleton_policy

    from ._support import audit_entries, wait_for

    dep = fresh_deployment
    await dep.provision()
    platform = Platform(dep, skeleton_policy(), tmp_path / "received")
    router = await platform.start_router()
    router.deliverer = BundlingDeliverer.like(router.deliverer)  # before any record: the INGEST is empty
    sc = await dep.connect(agency_steward("skatteverket"))
    sjs = sc.jetstream()
    nc = await dep.connect("polisen")
    try:
        info = await sjs.stream_info("INBOX")
        # one or two copies fit, three do not; six records in at most two batches make a bundle of three or more
        await sjs.update_stream(dataclasses.replace(info.config, max_msg_size=2 * 1024))
        records = polisen.sample(random.Random(2611), 6, operation="bacchus-2017")
        async with router.turn:  # held: the router's first batch waits until all six are in INGEST
            natives = [NativeRecord(f"bundles:{i}", b"", r) for i, r in enumerate(records)]
            assert (await publish_records(nc, polisen, natives)).published == 6
        await wait_for(lambda: router.stats.parked >= 3, timeout=20)
        await wait_for(lambda: not router.parking.parked("skatteverket"), timeout=20)
        end = (await sjs.stream_info("INBOX")).state.last_seq
        held = [copies((await sjs.get_msg("INBOX", seq)).data) for seq in range(1, end + 1)]
    finally:
        await nc.close()
        await sc.close()
        await platform.stop()
    ids = [ENVELOPE.decode(c).record.control_id for bundle in held for c in bundle]
    assert sorted(ids) == sorted(r["kontrollId"] for r in records)  # each once, none lost, none twice
    assert sum(len(bundle) == 1 for bundle in held) >= 3  # the refused bundle's copies, parked, came alone
    audit = await audit_entries(dep)
    assert len(audit) == 6 and len({a.envelope_id for a in audit}) == 6


async def test_a_baseline_that_loses_messages_counts_them_lost_once_none_more_arrive_not_after_its_timeout():
    """Core NATS drops under load and a dropped message never comes: the full suite once waited the
    whole 60 s for one (the bench's test took 79 s instead of 19)."""
    import asyncio
    import time
    from types import SimpleNamespace

    from samband.bench._base import _Arrivals

    def msg(i: int) -> SimpleNamespace:
        return SimpleNamespace(data=b'{"id":"' + f"{i:036d}".encode() + b'"}')

    arrivals = _Arrivals(3)
    await arrivals.on_msg(msg(0))
    later = asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(arrivals.on_msg(msg(2))))
    t = time.monotonic()
    await arrivals.wait(60, quiet=0.5)
    waited = time.monotonic() - t
    later.cancel()
    assert arrivals.count == 2 and arrivals.times[1] is None
    assert 0.5 <= waited < 5, waited  # one quiet period after the last arrival, not the 60 s
    whole = _Arrivals(1)
    await whole.on_msg(msg(0))
    await whole.wait(60, quiet=30)  # all arrived: at once


async def test_a_core_baseline_whose_messages_cannot_cross_says_so_in_one_line_not_a_traceback(
    deployment, fresh_deployment
):
    """The probe before the core run: a publisher on one broker and a subscriber on another stand in
    for a broker that takes messages and passes none on."""
    import click

    from samband.bench._base import _path_open
    from samband.broker_config import ROUTER

    pub, sub_nc = await deployment.connect(ROUTER), await fresh_deployment.connect(ROUTER)
    try:
        with pytest.raises(click.ClickException) as exc:
            await _path_open(pub, sub_nc, within=0.5)
    finally:
        await pub.close()
        await sub_nc.close()
    assert exc.value.message == (
        "Expected a core message to reach the subscriber, none did within 0.5 s: "
        "the broker is not passing messages (core pub/sub baseline not measured)"
    )
