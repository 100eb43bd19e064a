"""`samband bench`: samband end to end beside its baselines, on one embedded broker, in one run.

The figures that matter are ratios measured in the same run on the same machine (machines of
the same kind differ by 2x): samband's records/s against raw JetStream windowed publish and
against a FastStream decode-and-republish service. See docs/operating.md for what each row means.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import click
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cli_parts import bench_memory, bench_shim, bench_stores, print_profile
from ._report import Target, figures_table, kv_table, print_targets, report
from ._run import whole_run

__all__ = ["bench", "commands"]

# Wide enough for the table when stderr is a file or a pipe (CI logs), the terminal's width otherwise.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

DEFAULT_RECORDS = 30_000  # long enough for stable rates (3,000 took 0.3 s a run); all rows in about a minute
BASELINE_CAP = 50_000  # the baselines' rates are flat well before this; FastStream at 1M would take a quarter hour


@click.group(invoke_without_command=True)
@click.option(
    "--records",
    type=click.IntRange(min=10),
    default=DEFAULT_RECORDS,
    show_default=True,
    help="Records through samband end to end (and the baselines, up to --baseline-cap).",
)
@click.option(
    "--baseline-cap",
    type=click.IntRange(min=10),
    default=BASELINE_CAP,
    show_default=True,
    help="Most messages per baseline (their rates are flat long before this).",
)
@click.option(
    "--latency",
    "latency_s",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds of each fixed-rate latency run: samband with each record offered when due (the goal's),"
    " in chunks of ten, and a bare relay (30 for the issue's figure; 0 skips them).",
)
@click.option(
    "--rate", type=click.IntRange(min=10), default=1000, show_default=True, help="Offered records/s in the latency run."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout (the table goes to stderr).")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON to this file."
)
@click.option(
    "--profile",
    "profile_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run the router of the Bacchus fan-out run under cProfile and write its stats (pstats) to this file; "
    "its rates are then not comparable.",
)
@click.pass_context
def bench(
    ctx: click.Context,
    records: int,
    baseline_cap: int,
    latency_s: float,
    rate: int,
    as_json: bool,
    out_file: Path | None,
    profile_file: Path | None,
) -> None:
    """Measure samband end to end against nats-py, raw JetStream and FastStream on an embedded broker."""
    if ctx.invoked_subcommand is not None:
        return
    from samband.observability import configure_logging, configure_tracing

    from ._e2e import install_sampler
    from ._env import span_processor

    configure_logging(level="error")
    configure_tracing("samband-bench-adapter", processors=[span_processor()])
    install_sampler()
    profile = profile_file.resolve() if profile_file else None
    result = asyncio.run(whole_run(records, latency_s, rate, baseline_cap, console, profile))
    targets = report(result, console, latency_s)
    if profile is not None:
        print_profile(profile, console)
    result["targets"] = msgspec.to_builtins(targets)
    doc = _json(result)
    if out_file:
        out_file.write_bytes(doc + b"\n")
    if as_json:
        sys.stdout.write(doc.decode() + "\n")


def _json(result: dict) -> bytes:
    """The figures as JSON, floats to 6 decimals: a figure's 16 digits could read as a personnummer
    to anyone scanning the output for one (and no measurement here has more than 6 that mean anything)."""
    return msgspec.json.format(msgspec.json.encode(_rounded(msgspec.to_builtins(result))), indent=2)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(_json(result).decode() + "\n")


@bench.command("schemas")
@click.option("--records", type=click.IntRange(min=100), default=20_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_schemas(records: int, as_json: bool) -> None:
    """Envelope decode + validation vs a plain msgspec decode of the same bytes (target <= 3x)."""
    from ._micro import schemas_bench

    r = schemas_bench(records)
    kv_table(
        f"bench schemas: {records:,} envelopes of {r['payload_bytes']} bytes",
        [
            ("envelope decode + validate", f"{r['envelope_decode_validate_us']:.2f} µs"),
            ("plain msgspec.json.decode", f"{r['plain_msgspec_decode_us']:.2f} µs"),
        ],
        console,
    )
    print_targets(
        [Target(name="envelope decode+validate / plain decode", target="<= 3", value=r["ratio"], met=r["met"])], console
    )
    _emit(r, as_json)


@bench.command("policy")
@click.option("--records", type=click.IntRange(min=100), default=5_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_policy(records: int, as_json: bool) -> None:
    """µs per routing decision, and how it grows with operations and grants."""
    from ._micro import policy_bench

    r = policy_bench(records)
    t = Table(title="bench policy: the pure decision, no I/O", title_justify="left")
    for col in ("policy", "envelopes", "decisions", "µs per decision", "µs per record"):
        t.add_column(col, justify="left" if col == "policy" else "right")
    for row in r["rows"]:
        t.add_row(
            row["policy"],
            f"{row['envelopes']:,}",
            f"{row['decisions']:,}",
            f"{row['us_per_decision']:.2f}",
            f"{row['us_per_record']:.2f}",
        )
    console.print(t)
    for n in r["notes"]:
        console.print(f"[yellow]note:[/] {escape(n)}")
    rp = r["replay"]
    kv_table(
        f"bench policy: `policy impact` replaying {rp['entries']:,} audited decisions ({rp['records']:,} records)",
        [
            ("replayed under current and proposed", f"{rp['replayed_per_s']:,.0f} decisions/s"),
            ("decoding the same entries (baseline)", f"{rp['decoded_per_s']:,.0f} entries/s"),
        ],
        console,
    )
    print_targets(
        [Target(name="audited decisions replayed per second", target=rp["target"], value=rp["replayed_per_s"],
                met=rp["met"])],
        console,
    )  # fmt: skip
    console.print(f"replay / decode of the same entries: {rp['ratio_to_decode']:.2f}x")
    _emit(r, as_json)


@bench.command("console")
@click.option("--records", type=click.IntRange(min=1000), default=1_000_000, show_default=True)
@click.option("--turns", type=click.IntRange(min=1), default=20, show_default=True, help="Pages turned per filter.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_console(records: int, turns: int, as_json: bool) -> None:
    """Pages of `samband console`'s Disclosures over a log of 1M entries: first pages, page turns, deep
    pages, filters, one that matches nothing; each an HTTP GET timed to its last byte."""
    from samband.observability import configure_logging

    from ._console import console_bench, console_figures

    configure_logging(level="warning")  # a line per page would drown the figures
    with console.status(f"building and indexing a log of {records:,} entries, then asking the console for pages"):
        r = console_bench(records, turns)
    rows, targets = console_figures(r, records)
    kv_table(f"bench console: {records:,} entries, {r['pages']} pages over HTTP", rows, console)
    print_targets(targets, console)
    _emit(r, as_json)


@bench.command("audit")
@click.option("--records", type=click.IntRange(min=1000), default=1_000_000, show_default=True)
@click.option(
    "--batch", type=click.IntRange(min=1), default=2000, show_default=True, help="Entries per append (a router batch)."
)
@click.option(
    "--queries", type=click.IntRange(min=5), default=50, show_default=True, help="Person queries timed (index warm)."
)
@click.option("--no-broker", is_flag=True, help="Only the in-memory figures (build, verify): no broker, no query.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_audit(records: int, batch: int, queries: int, no_broker: bool, as_json: bool) -> None:
    """Verify vs a bare sha256 loop, reading the log from the broker into the index, and `audit query
    --person`, over a log of 1M entries by default."""
    from ._audit import QUERY_TARGET_MS, READ_TARGET_S, VERIFY_RATIO_TARGET, audit_bench

    # a line, not a spinner: its thread would keep verify from forking (audit/_parallel.py)
    console.print(
        f"building a log of {records:,} audit entries, verifying" + ("" if no_broker else ", then through the broker"),
        style="dim",
    )
    r = audit_bench(records, queries, broker=not no_broker, batch=batch)
    rows = [
        ("entry size (mean)", f"{r['entry_bytes']} bytes"),
        (
            "appends (atomic batches), messages",
            f"{r['checkpoints']:,} of {batch:,} entries, {r['messages']:,} messages",
        ),
        ("build (encode, leaf hashes, tree, signed checkpoint)", f"{r['build_per_s']:,.0f} entries/s"),
        ("bare sha256(entry).digest() loop, same entries", f"{r['bare_sha256_per_s']:,.0f} entries/s"),
        ("the same loop over the entries as stored (cut out of bundles)", f"{r['bare_stored_per_s']:,.0f} entries/s"),
        (
            "verify (parse, leaf + node hashes, every signature)",
            f"{r['verify_per_s']:,.0f} entries/s = {r['verify_vs_bare']:.2f}x the bare loop "
            f"({r['verify_vs_bare_stored']:.2f}x the one over bundles)",
        ),
        ("verified", "ok" if r["verified_ok"] else "PROBLEM"),
    ]
    if not no_broker:
        rows += [
            (
                "fill the stream (router, 500 in flight)",
                f"{r['fill_seconds']:.1f} s, {r['stream_bytes'] / 2**20:,.0f} MiB",
            ),
            (
                "read the log as the oversight (bundles, leaf hashes, checkpoints)",
                f"{r['read_seconds']:.1f} s = {r['read_per_s']:,.0f} entries/s"
                + ("" if r["read_exact"] else " NOT EXACT"),
            ),
            (
                "read it into the query index (cold: the first `audit query --person`, a process)",
                f"{r['index_seconds']:.1f} s = {r['index_per_s']:,.0f} entries/s"
                + (f" FAILED: {r['index_error']}" if r["index_error"] else ""),
            ),
            (
                "person query, CLI path, index warm",
                f"p50 {r['query_p50_ms']:.1f} ms, p95 {r['query_p95_ms']:.1f} ms, "
                f"max {r['query_max_ms']:.1f} ms ({r['hits_per_query']:.1f} hits)",
            ),
            (
                "whole `samband audit query --person` process",
                f"{r['process_ms']:.0f} ms (Python start-up + imports alone: {r['python_import_ms']:.0f} ms)",
            ),
        ]
    kv_table(f"bench audit: {records:,} entries, {r['checkpoints']:,} signed checkpoints", rows, console)
    targets = [
        Target(
            name="audit verify / bare sha256 loop",
            target=f">= {VERIFY_RATIO_TARGET:g}x",
            value=r["verify_vs_bare"],
            met=r["verify_met"],
            note=f"{r['verify_per_s']:,.0f} entries/s against {r['bare_sha256_per_s']:,.0f}/s",
        )
    ]
    if not no_broker:
        scale = 1_000_000 / records
        targets += [
            Target(
                name="read 1M entries from the broker, s",
                target=f"<= {READ_TARGET_S:g}",
                value=r["read_seconds"] * scale,
                met=r["read_met"],
                note="as the oversight reads them" + ("" if records == 1_000_000 else f" (scaled from {records:,})"),
            ),
            Target(
                name="read 1M entries into the query index, s",
                target=f"<= {READ_TARGET_S:g}",
                value=r["index_seconds"] * scale,
                met=r["index_met"],
                note="cold build by `audit query --person` (a process), every checkpoint checked",
            ),
            Target(
                name=f"person query over {records:,} entries, p95 ms",
                target=f"<= {QUERY_TARGET_MS:g}",
                value=r["query_p95_ms"],
                met=r["query_met"],
                note="CLI path in-process, index warm",
            ),
        ]
    console.print("[bold]targets[/] (this machine, this run):")
    print_targets(targets, console)
    if r.get("process_error"):
        console.print(f"[red]the query process failed:[/] {escape(r['process_error'])}")
    _emit(r, as_json)


@bench.command("adapters")
@click.option("--records", type=click.IntRange(min=100), default=20_000, show_default=True)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Rounds of raw-then-adapter; the round with the median ratio counts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def bench_adapters(records: int, rounds: int, as_json: bool) -> None:
    """An adapter publishing from a file, every record traced, vs raw windowed JetStream publish of the
    same messages (target >= 0.5x)."""
    from samband.observability import configure_logging, configure_tracing

    from ._env import NullExporter, bench_deployment, span_processor
    from ._micro import adapters_bench

    configure_logging(level="error")
    exporter = NullExporter()
    provider = configure_tracing("samband-bench-adapter", processors=[span_processor(exporter)], sample_ratio=1.0)

    async def run() -> dict:
        with bench_deployment() as dep:
            await dep.provision()
            return msgspec.to_builtins(await adapters_bench(dep, records, rounds=rounds, exporter=exporter))

    r = asyncio.run(run())
    r["sampler"] = provider.sampler.get_description()
    figs = [r["adapter"], r["raw_jetstream"], r["pipeline"]]
    figures_table(
        f"bench adapters: {records:,} Polisen records ({r['payload_bytes']}-byte envelopes), "
        f"the median of {rounds} rounds",
        figs,
        console,
    )
    ratio = re.search(r"TraceIdRatioBased\{([^}]*)\}", r["sampler"])
    sampler = f"parent-based, ratio {ratio.group(1)}" if ratio else r["sampler"]
    console.print(
        f"  tracing ON for the adapter (sampler {escape(sampler)}): {r['spans_exported']:,} PRODUCER spans exported "
        f"for {rounds * records:,} records (one per record, through a BatchSpanProcessor to a null exporter)"
    )
    console.print(
        "  baseline: the same messages the adapter publishes (same envelope bytes with traceparent, same "
        "Nats-Msg-Id and traceparent headers), encoded before its clock starts, 256 acks in flight"
    )
    for i, rd in enumerate(r["rounds"], 1):
        console.print(
            f"  round {i}: raw {rd['raw_jetstream']:,.0f}/s, then adapter {rd['adapter']:,.0f}/s: "
            f"ratio {rd['ratio']:.2f}"
        )
    console.print("  the result is the round with the median ratio (the lower one of an even count)")
    console.print(
        f"  the adapter publishes through samband's AckPipeline (one write per 16 records, one reply subscription), "
        f"not nats-py's publish_async; the same messages through that pipeline alone, in the same round: "
        f"{r['pipeline']['rate_in']:,.0f}/s (adapter = {r['adapter_vs_pipeline']:.2f}x of it: reading, mapping, "
        f"validating and tracing are the rest)"
    )
    print_targets(
        [
            Target(
                name="adapter from file (traced) / raw JetStream windowed publish",
                target=">= 0.5",
                value=r["ratio"],
                met=r["met"],
                note="" if r["met"] else "target MISSED: see docs/adapters.md for where the time goes",
            )
        ],
        console,
    )
    _emit(r, as_json)


bench.add_command(bench_memory)
bench.add_command(bench_shim)
bench.add_command(bench_stores)

commands = [bench]
