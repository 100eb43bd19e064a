"""The whole `samband bench` run: samband end to end beside its baselines, on one embedded broker.

Raw nats-py core forward, raw JetStream windowed publish and a FastStream decode-and-republish
service carry the same payload as samband does, in the same process tree on the same broker, so
the figures are ratios measured in the same run (machines of the same kind differ by 2x).
"""

from __future__ import annotations

import os
import platform as _platform
import subprocess
import sys
import time
from pathlib import Path

import click
import msgspec
from rich.console import Console

__all__ = ["whole_run"]


AUDIT_ENTRIES = 100_000  # the verify figure's log: its rate is flat long before this


async def whole_run(
    records: int, latency_s: float, rate: int, baseline_cap: int, console: Console, profile: Path | None = None
) -> dict:
    """Every row of the default run, as builtins (``console`` shows what runs now); ``profile``: where
    the router's cProfile stats of the Bacchus run are written."""
    from samband.broker_config import find_nats_server

    from ._base import (
        core_pubsub,
        faststream_available,
        faststream_forward,
        jetstream_round_trip,
        jetstream_windowed,
        numbered,
    )
    from ._e2e import E2E
    from ._env import bench_deployment, cpu_per_item, cpu_snapshot, payload
    from ._relay import relay_at_rate
    from ._router import load_policy
    from ._stores import append_round_trip

    started = time.perf_counter()
    base = payload()
    nb = min(records, baseline_cap)
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": _platform.python_version(),
            "platform": _platform.platform(),
            "nats_server": find_nats_server().name,
        },
        "payload_bytes": len(base),
        "records": records,
        "baseline_records": nb,
        "baselines": {},
        "samband": {},
        "notes": [],
    }
    with bench_deployment() as dep:
        await dep.provision()
        payloads = numbered(base, nb)
        with console.status("baseline: nats-py core publish/subscribe"):
            result["baselines"]["core"] = await core_pubsub(dep, payloads)
        broker = dep.server.proc.pid if dep.server and dep.server.proc else None
        with console.status("baseline: JetStream windowed publish"):
            cpu0 = cpu_snapshot(client=None, broker=broker)
            result["baselines"]["jetstream"] = fig = await jetstream_windowed(dep, payloads)
            result["cpu_us_per_message_jetstream"] = cpu_per_item(
                cpu0, cpu_snapshot(client=None, broker=broker), fig.records
            )
        with console.status("baseline: JetStream publish round trip, and an audit append's"):
            result["baselines"]["jetstream_rtt"] = await jetstream_round_trip(dep, base)
            result["baselines"]["append_rtt"] = await append_round_trip(dep, base)
        if faststream_available():
            with console.status("baseline: FastStream decode + republish"):
                result["baselines"]["faststream"] = await faststream_forward(dep, payloads)
        else:
            result["baselines"]["faststream"] = None
            result["notes"].append("FastStream is not installed (pip install 'samband[bench]'): its ratio is skipped")

        e2e = E2E(dep)
        with console.status(f"samband end to end: {records:,} records, fan-out 1, every record traced"):
            fig, detail = await e2e.throughput(records, name="samband e2e, fan-out 1, all traced")
        result["samband"]["fanout1_traced"] = fig
        result["router"] = detail
        with console.status(f"samband end to end: {records:,} records, fan-out 1, 1% sampled"):
            fig, d = await e2e.throughput(records, sample=0.01, name="samband e2e, fan-out 1, 1% sampled")
        result["samband"]["fanout1_sampled"] = fig
        result["router_sampled"] = {"router": d["router"]}
        # What the audit trail and tracing cost together: the same run with neither (bench only: the
        # router seals its audit records but does not append them, which samband never does).
        with console.status(f"samband end to end: {records:,} records, fan-out 1, no audit append, untraced"):
            fig, d = await e2e.throughput(
                records, sample=0.0, audit=False, name="samband e2e, fan-out 1, no audit, untraced (bench only)"
            )
        result["samband"]["fanout1_bare"] = fig
        result["router_bare"] = {"router": d["router"]}
        try:
            load_policy("bacchus")
        except SystemExit as exc:
            result["samband"]["bacchus_traced"] = None
            result["notes"].append(f"Operation Bacchus fan-out not run: {exc}")
        else:
            with console.status(f"samband end to end: {records:,} records, Operation Bacchus fan-out, all traced"):
                fig, d = await e2e.throughput(
                    records, policy="bacchus", name="samband e2e, Bacchus fan-out, all traced", profile=profile
                )
            result["samband"]["bacchus_traced"] = fig
            result["router_bacchus"] = {"router": d["router"], "cpu_us_per_record": d["cpu_us_per_record"]}
            # The design docs/performance.md names for the Bacchus goal, measured in the same run (bench only:
            # one inbox message per recipient and batch is not samband's contract, samband/bench/_bundles.py).
            with console.status(f"samband end to end: {records:,} records, Bacchus fan-out, deliveries bundled"):
                fig, d = await e2e.throughput(
                    records, policy="bacchus", bundle=True, name="samband e2e, Bacchus, bundled (bench only)"
                )
            result["samband"]["bacchus_bundled"] = fig
            result["router_bacchus_bundled"] = {"router": d["router"], "cpu_us_per_record": d["cpu_us_per_record"]}
        result["latency"] = result["latency_chunks"] = result["baselines"]["relay_at_rate"] = None
        if latency_s > 0:
            with console.status(f"baseline: a bare relay (three acknowledged stores) at {rate}/s for {latency_s:g} s"):
                result["baselines"]["relay_at_rate"] = await relay_at_rate(dep, base, rate, latency_s)
            with console.status(f"samband latency at {rate}/s for {latency_s:g} s, each record when due"):
                fig, d = await e2e.at_rate(rate, latency_s)
            result["latency"] = fig
            result["latency_detail"] = d
            with console.status(f"samband latency at {rate}/s for {latency_s:g} s, ten records every 10 ms"):
                fig, _ = await e2e.at_rate(rate, latency_s, offer="chunks")
            result["latency_chunks"] = fig
        # The raw baseline again, after samband's runs (last: its writes must not weigh on the latency
        # run): on a 2-core VM it moved 24.8k-37.2k msg/s between runs on an idle machine, so the
        # ratios are taken against the mean of both.
        with console.status("baseline: JetStream windowed publish, again after samband"):
            again = await jetstream_windowed(dep, payloads, prefix="js-after")
            again.name += ", again after samband's runs"
            result["baselines"]["jetstream_after"] = again
        del payloads
    # a line, not a spinner: the spinner's thread would keep verify from forking (audit/_parallel.py),
    # and the figure is verify as `samband audit verify` runs it
    console.print("policy decision on the shipped policy; audit verify vs a bare sha256 loop ...", style="dim")
    result["micro"] = _micro()
    result["seconds"] = time.perf_counter() - started
    return msgspec.to_builtins(result)


def _verify_figures(n: int) -> dict:
    """`audit_bench` without the broker in a process of its own, as `samband audit verify` runs: this
    one runs the bench's span exporter thread, and verify forks only in a single-threaded process."""
    code = "import sys, msgspec; from samband.bench._audit import audit_bench; "
    code += f"sys.stdout.buffer.write(msgspec.json.encode(audit_bench({n}, broker=False)))"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise click.ClickException(
            "Expected the verify figures within 600 s, got none: the process was stopped"
        ) from None
    if proc.returncode != 0:
        raise click.ClickException(f"Expected the verify figures, the process failed: {proc.stderr.decode()[-500:]}")
    return msgspec.json.decode(proc.stdout)


def _micro() -> dict:
    """The pure figures of the issue's table: µs per decision (Operation Bacchus), and verifying a log
    of `AUDIT_ENTRIES` against a bare sha256 loop over the same entries (no broker)."""
    from ._micro import _policy_envelopes, _time_policy
    from ._router import load_policy

    try:
        policy = _time_policy(load_policy("bacchus"), _policy_envelopes(5000, None), "shipped (Operation Bacchus)")
    except SystemExit:
        policy = None
    audit = _verify_figures(AUDIT_ENTRIES)
    return {
        "policy_us_per_decision": policy["us_per_decision"] if policy else None,
        "audit_entries": AUDIT_ENTRIES,
        "audit_verify_per_s": audit["verify_per_s"],
        "bare_sha256_per_s": audit["bare_sha256_per_s"],
        "audit_verify_vs_bare": audit["verify_vs_bare"],
    }
