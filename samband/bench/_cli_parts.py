"""Parts of `samband bench` apart from cli.py (kept under the module size): `samband bench shim`, and
the router profile `samband bench --profile` shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from ._report import kv_table

__all__ = ["bench_shim", "print_profile"]


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
