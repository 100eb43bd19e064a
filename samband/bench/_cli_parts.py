"""Parts of `samband bench` apart from cli.py (kept under the module size): `samband bench memory`,
`samband bench shim`, `samband bench stores`, and the router profile `samband bench --profile` shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import msgspec
from rich.console import Console
from rich.markup import escape

from ._report import kv_table

__all__ = ["bench_memory", "bench_shim", "bench_stores", "print_profile"]


def print_profile(path: Path, console: Console, top: int = 25) -> None:
    """The profile's top entries by own time (where the router's CPU goes, not what calls what)."""
    import io
    import pstats

    if not path.exists():
        console.print(f"[red]no profile written to {escape(str(path))}[/] (the router did not stop cleanly)")
        return
    buf = io.StringIO()
    pstats.Stats(str(path), stream=buf).sort_stats("tottime").print_stats(top)
    console.print(f"router profile, Bacchus run ({escape(str(path))}), top {top} by own time:")
    console.print(escape(buf.getvalue().split("\n\n", 1)[-1].strip()), highlight=False)


@click.command("shim")
@click.option("--records", type=click.IntRange(min=100), default=30_000, show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True, help="Interleaved rounds.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_shim(records: int, rounds: int, as_json: bool) -> None:
    """What the shim over nats-py internals gains: AckPipeline's framed write and its answers from the
    parser vs nats-py's public path, the same messages to one stream."""
    from samband.observability import configure_logging

    from ._env import bench_deployment
    from ._internals import shim_bench
    from .cli import _emit, console

    configure_logging(level="error")

    async def run() -> dict:
        with bench_deployment() as dep:
            await dep.provision()
            return await shim_bench(dep, records, rounds)

    with console.status(f"{records:,} messages x {rounds} rounds x 3 ways through AckPipeline"):
        r = asyncio.run(run())
    rows = [
        (w["name"], f"{w['rate']:,.0f} msg/s, client CPU {w['client_cpu_us']:.1f} µs/msg, {w['stored']:,} stored")
        for w in r["ways"]
    ]
    rows += [
        (w["name"], f"{w['rate']:,.0f} msg/s, client CPU {w['client_cpu_us']:.1f} µs/msg, {w['stored']:,} read")
        for w in r["pull"]
    ]
    rows += [
        ("CPU saved per message by the framed write", f"{r['write_cpu_saved_us']:.1f} µs"),
        ("CPU saved per message by answers from the parser", f"{r['route_cpu_saved_us']:.1f} µs"),
        ("CPU saved per pulled record by records from the parser", f"{r['pull_cpu_saved_us']:.1f} µs"),
        (
            "samband's path vs nats-py's public path",
            f"{r['rate_vs_public']:.2f}x the rate, {r['cpu_vs_public']:.2f}x the CPU",
        ),
    ]
    kv_table(
        f"bench shim: {records:,} messages of {r['payload_bytes']} bytes with headers, median of {rounds} rounds",
        rows,
        console,
    )
    _emit(r, as_json)


@click.command("memory")
@click.option("--records", type=click.IntRange(min=1000), default=1_000_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_memory(records: int, as_json: bool) -> None:
    """The router's resident memory over a long run (1M records, fan-out 1, all traced): it must stay flat."""
    from samband.observability import configure_logging, configure_tracing

    from ._e2e import E2E, install_sampler
    from ._env import bench_deployment, span_processor
    from ._report import fmt, print_targets, rss_target
    from .cli import _emit, console

    configure_logging(level="error")
    configure_tracing("samband-bench-adapter", processors=[span_processor()])
    install_sampler()

    async def run() -> dict:
        with bench_deployment() as dep:
            await dep.provision()
            with console.status(f"samband end to end: {records:,} records through the router, RSS sampled every 0.5 s"):
                fig, detail = await E2E(dep).throughput(records, name="samband e2e, fan-out 1, all traced")
        return {
            "figure": msgspec.to_builtins(fig),
            "router": detail["router"],
            "router_rss_kib": detail["router_rss_kib"],
        }

    r = asyncio.run(run())
    rss = r["router_rss_kib"]
    rows = [
        ("records", f"{r['figure']['records']:,} in {r['figure']['seconds']:,.0f} s ({r['figure']['rate_in']:,.0f}/s)")
    ]
    for frac in (0.1, 0.25, 0.5, 0.75, 1.0):
        at = next(((n, k) for n, k in rss if n >= frac * rss[-1][0]), None) if rss else None
        if at and f"RSS after {at[0]:,} records" not in dict(rows):
            rows.append((f"RSS after {at[0]:,} records", f"{at[1] / 1024:,.1f} MiB"))
    peak = r["router"].get("peak_rss_kib")
    rows.append(("router peak RSS (VmHWM)", f"{fmt(peak and peak / 1024, ',.1f')} MiB"))
    kv_table(f"bench memory: the router over {records:,} records", rows, console)
    target = rss_target(records, rss, peak)
    r["target"] = msgspec.to_builtins(target)
    print_targets([target], console)
    _emit(r, as_json)


@click.command("stores")
@click.option("--messages", type=click.IntRange(min=100), default=20_000, show_default=True, help="Messages per kind.")
@click.option(
    "--round-trips", type=click.IntRange(min=10), default=200, show_default=True, help="Appends timed one at a time."
)
@click.option(
    "--cluster", is_flag=True, help="Also time them on the production layout: three local nodes, streams of 3 replicas."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_stores(messages: int, round_trips: int, cluster: bool, as_json: bool) -> None:
    """What each kind of store samband asks of the broker costs it (nats-server CPU per message), and the
    latency floor of one record: its ingest store, the audit append, its inbox store."""
    from samband.observability import configure_logging

    from ._env import bench_deployment, payload
    from ._report import fmt
    from ._stores import APPEND_MESSAGES, stores_bench
    from .cli import _emit, console

    configure_logging(level="error")

    async def run() -> dict:
        with bench_deployment() as dep:
            await dep.provision()
            out = await stores_bench(dep, payload(), messages, round_trips)
        if cluster:
            from ._stores_cluster import cluster_round_trips

            out["cluster"] = await cluster_round_trips(payload(), round_trips)
        return out

    with console.status(f"{messages:,} messages of each kind, then {round_trips} appends one at a time"):
        r = asyncio.run(run())
    from rich.table import Table

    t = Table(
        title=f"bench stores: {messages:,} messages of {r['payload_bytes']} bytes of each kind, 256 answers in flight",
        title_justify="left",
    )
    for col in ("kind of store", "nats-server CPU µs/msg", "client CPU µs/msg", "msg/s", "stored"):
        t.add_column(col, justify="left" if col == "kind of store" else "right")
    for row in r["rows"]:
        t.add_row(
            row["name"],
            fmt(row["broker_cpu_us"], ".1f"),
            fmt(row["client_cpu_us"], ".1f"),
            f"{row['rate']:,.0f}",
            f"{row['stored']:,} of {row['messages']:,}",
        )
    console.print(t)
    plain, append, fsync = r["store_rtt"], r["append_rtt"], r["fsync"]
    per = {row["key"]: row["broker_cpu_us"] for row in r["rows"]}
    atomic = r["append_atomic_rtt"]
    rows = [
        ("the service import's cost to nats-server, per delivery", f"{fmt(r['import_cost_us'], '.1f')} µs"),
        ("of which asking for the answer (its mapping back)", f"{fmt(r['answer_cost_us'], '.1f')} µs"),
        (
            f"a delivery in a bundle of {r['bundle_copies']} against one alone, nats-server CPU",
            f"{fmt(per['bundle'], '.1f')} µs against {fmt(per['delivery'], '.1f')} µs",
        ),
        (
            "nats-server CPU per audit append (as one atomic batch)",
            f"{_ms(per['append'] and per['append'] * APPEND_MESSAGES)} ms "
            f"({_ms(per['append_atomic'] and per['append_atomic'] * APPEND_MESSAGES)} ms)",
        ),
        ("one store, one at a time", _p50_p99(plain)),
        (
            "an audit append, one at a time (answered once all of it is stored)",
            f"{_p50_p99(append)}, {append['committed']} of {append['batches']} whole",
        ),
        (
            "the same as one atomic batch",
            f"{_p50_p99(atomic)}, {atomic['committed']} of {atomic['batches']} committed",
        ),
        (
            f"this disk: a {fsync['bytes']:,}-byte write and fsync",
            _p50_p99(fsync),
        ),
        ("a record's latency floor: ingest, audit append, inbox in turn", f"p50 {fmt(r['floor_p50_ms'], '.2f')} ms"),
    ]
    c = r.get("cluster")
    if c:
        rows += [
            (f"R3, {c['nodes']} local nodes: one store, one at a time", _p50_p99(c["store_rtt"])),
            (
                "R3: an audit append, one at a time",
                f"{_p50_p99(c['append_rtt'])}, {c['append_rtt']['committed']} of {c['append_rtt']['batches']} "
                f"whole; the nodes' CPU {fmt(c['append_broker_cpu_ms'], '.2f')} ms an append",
            ),
            ("R3: the same as one atomic batch", _p50_p99(c["append_atomic_rtt"])),
        ]
    kv_table("bench stores: what follows", rows, console)
    _emit(r, as_json)


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def _p50_p99(f: dict) -> str:
    from ._report import fmt

    return f"p50 {fmt(f['p50_ms'], '.2f')} ms, p99 {fmt(f['p99_ms'], '.2f')} ms"
