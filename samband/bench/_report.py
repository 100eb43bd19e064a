"""What `samband bench` prints: the figures table, the targets (MET, MISSED, not measured), and
the lines that say where the time goes (CPU per process, audit + tracing cost, the latency floor)."""

from __future__ import annotations

import msgspec
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

__all__ = ["Target", "cpu_lines", "figures_table", "fmt", "kv_table", "print_targets", "ratio", "report", "rss_target"]


class Target(msgspec.Struct, kw_only=True):
    name: str
    target: str
    value: float | None
    met: bool | None  # None: not measured in this run
    note: str = ""


def ratio(a, b) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def fmt(v: float | None, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def figures_table(title: str, figures: list[dict], out: Console) -> None:
    t = Table(title=title, title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("run", "left"),
        ("records", "right"),
        ("records/s in", "right"),
        ("deliveries/s out", "right"),
        ("fan-out", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("note", "left"),
    )
    for col, just in columns:
        t.add_column(col, justify=just)
    for f in figures:
        t.add_row(
            f["name"],
            fmt(f["records"]),
            fmt(f["rate_in"]),
            fmt(f["rate_out"]),
            fmt(f["fanout"], ".1f"),
            fmt(f["p50_ms"], ",.1f"),
            fmt(f["p99_ms"], ",.1f"),
            f.get("note", ""),
        )
    out.print(t)


def print_targets(targets: list[Target], out: Console) -> None:
    for t in targets:
        if t.met is None:
            mark = "[yellow]not measured[/]"
        else:
            mark = "[green]MET[/]" if t.met else "[red bold]MISSED[/]"
        value = "-" if t.value is None else f"{t.value:,.2f}"
        out.print(f"  {mark}  {t.name}: {value} (target {t.target}){'  ' + t.note if t.note else ''}")


def _targets(r: dict, latency_s: float) -> list[Target]:
    js = r["baselines"]["jetstream"]["rate_in"]
    fs = (r["baselines"].get("faststream") or {}).get("rate_in")
    sb = r["samband"]["fanout1_traced"]["rate_in"]
    lat = r.get("latency")
    out = [
        Target(
            name="samband e2e / raw JetStream windowed publish",
            target=">= 0.5",
            value=ratio(sb, js),
            met=None if js is None else sb / js >= 0.5,
            note=_ceiling_note(r, js),
        ),
        Target(
            name="samband e2e / FastStream decode + republish",
            target=">= 10",
            value=ratio(sb, fs),
            met=None if fs is None else sb / fs >= 10,
            note="" if fs else "FastStream not installed",
        ),
    ]
    p99 = lat["p99_ms"] if lat else None
    note = f"measured over {latency_s:g} s (the issue's figure is 30 s: --latency 30)" if lat and latency_s < 30 else ""
    rtt = r["baselines"].get("jetstream_rtt")
    if lat and p99 is not None and p99 > 5.0 and rtt and rtt.get("p50_ms") is not None:
        note = (note + "; " if note else "") + (
            f"floor here: 3 acknowledged stores in sequence (ingest, audit, inbox), one alone p50 "
            f"{rtt['p50_ms']:.2f} ms, p99 {rtt['p99_ms']:.2f} ms"
        )
    out.append(
        Target(
            name=f"p99 adapter publish -> recipient inbox ack at {lat['rate_in']:,.0f}/s" if lat else "p99 at 1k msg/s",
            target="<= 5 ms",
            value=p99,
            met=None if p99 is None else p99 <= 5.0,
            note=note,
        )
    )
    out.append(rss_target(r["records"], r["router"]["router_rss_kib"], r["router"]["router"].get("peak_rss_kib")))
    return out


def rss_target(records: int, rss: list, peak_kib: int | None) -> Target:
    """The router's RSS must not grow with records: compare the sample at mid-run with the last one."""
    if len(rss) >= 4 and records >= 100_000:
        mid = next(k for n, k in rss if n >= rss[-1][0] / 2)
        growth = (rss[-1][1] - mid) / mid
        return Target(
            name="router RSS growth, mid-run to end",
            target="<= 10%",
            value=growth * 100,
            met=growth <= 0.10,
            note=f"peak {fmt(peak_kib and peak_kib / 1024)} MiB",
        )
    return Target(
        name="router RSS flat over records",
        target="<= 10% growth",
        value=None,
        met=None,
        note="judged with --records >= 100000 (1M: samband bench memory)",
    )


def _ceiling_note(r: dict, raw: float | None) -> str:
    cpu = (r.get("router") or {}).get("cpu_us_per_record") or {}
    if not raw or not cpu or None in cpu.values():
        return ""
    ceiling = (r["machine"]["cpus"] or 1) * 1e6 / sum(cpu.values())
    return f"the CPU samband spends per record caps it here at {ceiling:,.0f}/s = {ceiling / raw:.2f}x raw"


def cpu_lines(r: dict) -> list[str]:
    """Where the CPU goes per record, per process, and the rate two cores could give at most."""
    lines = []
    cpus = r["machine"]["cpus"] or 1
    js = r.get("cpu_us_per_message_jetstream") or {}
    if None not in js.values() and js:
        total = sum(js.values())
        lines.append(
            f"CPU per message, raw JetStream windowed publish: client {js['client']:,.0f} µs + nats-server "
            f"{js['broker']:,.0f} µs = {total:,.0f} µs"
        )
    sb = (r.get("router") or {}).get("cpu_us_per_record") or {}
    if None not in sb.values() and sb:
        total = sum(sb.values())
        lines.append(
            f"CPU per record, samband e2e fan-out 1 traced: adapter {sb['adapter']:,.0f} µs (the bench process: "
            f"it also makes the synthetic records and polls the router's progress) + router "
            f"{sb['router']:,.0f} µs + nats-server {sb['broker']:,.0f} µs = {total:,.0f} µs: {cpus} cores "
            f"carry at most {cpus * 1e6 / total:,.0f} records/s however the work is spread"
        )
    return lines


def report(r: dict, out: Console, latency_s: float) -> list[Target]:
    figures = [
        f
        for f in (
            r["baselines"]["core"],
            r["baselines"]["jetstream"],
            r["baselines"].get("jetstream_rtt"),
            r["baselines"].get("faststream"),
        )
        if f
    ]
    figures += [f for f in r["samband"].values() if f]
    if r.get("latency"):
        figures.append(r["latency"])
    figures_table(
        f"samband bench: {r['records']:,} records of {r['payload_bytes']} bytes "
        f"(baselines {r['baseline_records']:,}) on {r['machine']['cpus']} cores",
        figures,
        out,
    )
    peak = r["router"]["router"].get("peak_rss_kib")
    out.print(
        f"router process peak RSS: {fmt(peak and peak / 1024, ',.1f')} MiB over {r['records']:,} records; "
        f"spans exported by the router (traced run): {r['router']['router'].get('spans')}"
    )
    sampled, traced = r["samband"]["fanout1_sampled"]["rate_in"], r["samband"]["fanout1_traced"]["rate_in"]
    out.print(
        f"tracing: 1% parent-based sampling runs at {fmt(ratio(sampled, traced), '.2f')}x the all-traced rate "
        f"(audit records are written for every decision in both)"
    )
    bare = (r["samband"].get("fanout1_bare") or {}).get("rate_in")
    if bare:
        out.print(
            f"audit + tracing: all traced with every audit record appended runs at {fmt(ratio(traced, bare), '.2f')}x "
            f"the rate of the same router appending no audit record and untraced (bench only); "
            f"1% sampled with the audit at {fmt(ratio(sampled, bare), '.2f')}x"
        )
    for line in cpu_lines(r):
        out.print(line)
    if r.get("latency"):
        out.print(f"latency run: {r['latency']['records']:,} records offered over {r['latency']['seconds']:.1f} s")
    for n in r["notes"]:
        out.print(f"[yellow]note:[/] {escape(n)}")
    targets = _targets(r, latency_s)
    out.print("[bold]targets[/] (this machine, this run):")
    print_targets(targets, out)
    out.print(f"bench took {r['seconds']:.1f} s")
    return targets


def kv_table(title: str, rows: list[tuple[str, str]], out: Console) -> None:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)
