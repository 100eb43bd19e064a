"""What `samband bench` prints: the figures table, the targets (MET, MISSED, not measured), and
the lines that say where the time goes (CPU per process, audit + tracing cost, the latency floor)."""

from __future__ import annotations

import msgspec
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

__all__ = [
    "Target",
    "cpu_lines",
    "figures_table",
    "fmt",
    "kv_table",
    "print_targets",
    "ratio",
    "report",
    "rss_target",
    "targets_table",
]


class Target(msgspec.Struct, kw_only=True):
    name: str
    target: str
    value: float | None
    met: bool | None  # None: not measured in this run
    note: str = ""
    now: str = ""  # the measured figure as the issue's table shows it (``a / b = ratio``)


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


# The issue's goals (#20), each a ratio against a baseline measured in the same run where there is one.
GOAL_BACCHUS = 0.7  # audited deliveries/s at Bacchus fan-out / raw JetStream windowed publish msg/s
GOAL_FANOUT1 = 0.35  # records/s at fan-out 1 / raw JetStream windowed publish
GOAL_FASTSTREAM = 4.0  # records/s at fan-out 1 / FastStream decode + republish
GOAL_P99_MS = 3.0  # adapter publish -> inbox ack at 1,000/s
GOAL_DECISION_US = 1.0  # one policy decision, Operation Bacchus
GOAL_VERIFY = 0.5  # audit verify / a bare sha256 loop over the same entries


def _of(a: float | None, b: float | None, unit: str = "") -> str:
    q = ratio(a, b)
    return "-" if q is None else f"{a:,.0f}{unit} / {b:,.0f}{unit} = {q:.2f}"


def _at_least(name: str, now: str, value: float | None, goal: float, note: str = "") -> Target:
    return Target(
        name=name, now=now, target=f">= {goal:g}", value=value, met=None if value is None else value >= goal, note=note
    )


def raw_rate(r: dict) -> float:
    """The raw JetStream baseline's rate: the mean of its runs before and after samband's (one, in an
    older result)."""
    runs = [f["rate_in"] for f in (r["baselines"]["jetstream"], r["baselines"].get("jetstream_after")) if f]
    return sum(runs) / len(runs)


def _raw_note(r: dict) -> str:
    after = r["baselines"].get("jetstream_after")
    notes = []
    if after:
        before = r["baselines"]["jetstream"]["rate_in"]
        notes.append(f"raw: {before:,.0f}/s before samband's runs, {after['rate_in']:,.0f}/s after")
    bundled = ((r.get("samband") or {}).get("bacchus_bundled") or {}).get("rate_out")
    if bundled:  # an older result has no such run
        notes.append(
            f"one inbox message per recipient and batch (bench only, not samband's contract): "
            f"{bundled:,.0f} / {raw_rate(r):,.0f} = {bundled / raw_rate(r):.2f}"
        )
    return "; ".join(notes)


def _targets(r: dict, latency_s: float) -> list[Target]:
    js = raw_rate(r)
    fs = (r["baselines"].get("faststream") or {}).get("rate_in")
    sb = r["samband"]["fanout1_traced"]["rate_in"]
    bacchus = r["samband"].get("bacchus_traced") or {}
    micro = r.get("micro") or {}
    out = [
        _at_least(
            f"Bacchus fan-out {fmt(bacchus.get('fanout'), '.0f')}, audited deliveries/s / raw JetStream windowed "
            "publish msg/s",
            _of(bacchus.get("rate_out"), js),
            ratio(bacchus.get("rate_out"), js),
            GOAL_BACCHUS,
            _raw_note(r),
        ),
        _at_least(
            "fan-out 1, records/s / raw JetStream windowed publish",
            _of(sb, js),
            ratio(sb, js),
            GOAL_FANOUT1,
            _ceiling_note(r, js),
        ),
        _at_least(
            "fan-out 1 / FastStream decode + republish",
            _of(sb, fs),
            ratio(sb, fs),
            GOAL_FASTSTREAM,
            "" if fs else "FastStream not installed (pip install 'samband[bench]')",
        ),
    ]
    lat = r.get("latency")
    p99 = lat["p99_ms"] if lat else None
    notes = (
        [f"measured over {latency_s:g} s (the issue's figure is 30 s: --latency 30)"] if lat and latency_s < 30 else []
    )
    notes += _offer_notes(r)
    rtt, append = r["baselines"].get("jetstream_rtt"), r["baselines"].get("append_rtt")
    if lat and p99 is not None and p99 > GOAL_P99_MS and rtt and rtt.get("p50_ms") is not None:
        notes.append(_floor_note(rtt, append))
    note = "; ".join(notes)
    out.append(
        Target(
            name=f"p99 adapter publish -> inbox ack at {lat['rate_in']:,.0f}/s" if lat else "p99 at 1,000/s",
            now="-" if p99 is None else f"{p99:.1f} ms",
            target=f"<= {GOAL_P99_MS:g} ms",
            value=p99,
            met=None if p99 is None else p99 <= GOAL_P99_MS,
            note=note,
        )
    )
    us = micro.get("policy_us_per_decision")
    out.append(
        Target(
            name="policy decision (Operation Bacchus)",
            now="-" if us is None else f"{us:.2f} µs",
            target=f"<= {GOAL_DECISION_US:g} µs",
            value=us,
            met=None if us is None else us <= GOAL_DECISION_US,
        )
    )
    out.append(
        _at_least(
            f"audit verify / bare sha256 loop, same {micro.get('audit_entries', 0):,} leaves",
            _of(micro.get("audit_verify_per_s"), micro.get("bare_sha256_per_s"), "/s"),
            micro.get("audit_verify_vs_bare"),
            GOAL_VERIFY,
        )
    )
    out.append(rss_target(r["records"], r["router"]["router_rss_kib"], r["router"]["router"].get("peak_rss_kib")))
    return out


def targets_table(title: str, targets: list[Target], out: Console) -> None:
    """The issue's table: figure, now, goal, MET/MISSED (and why, where the run says)."""
    t = Table(title=title, title_justify="left")
    for col in ("figure", "now", "goal", "result", "note"):
        t.add_column(col)
    for g in targets:
        mark = "[yellow]not measured[/]" if g.met is None else "[green]MET[/]" if g.met else "[red bold]MISSED[/]"
        now = g.now or ("-" if g.value is None else f"{g.value:,.2f}")
        t.add_row(escape(g.name), escape(now), escape(g.target), mark, escape(g.note))
    out.print(t)


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
        # an older result made its records while it ran (it has no `records_made`)
        made = (r.get("router") or {}).get("records_made", "while the run went on")
        making = "its records made before the clock" if made == "before the clock" else "it also makes the records"
        lines.append(
            f"CPU per record, samband e2e fan-out 1 traced: adapter {sb['adapter']:,.0f} µs (the bench process, "
            f"{making}; it polls the router's progress) + router "
            f"{sb['router']:,.0f} µs + nats-server {sb['broker']:,.0f} µs = {total:,.0f} µs: {cpus} cores "
            f"carry at most {cpus * 1e6 / total:,.0f} records/s however the work is spread"
        )
    for figure, router, how in (
        ("bacchus_traced", "router_bacchus", ""),
        ("bacchus_bundled", "router_bacchus_bundled", ", deliveries bundled (bench only)"),
    ):
        bacchus = r["samband"].get(figure) or {}
        bc = (r.get(router) or {}).get("cpu_us_per_record") or {}
        if bc and None not in bc.values() and bacchus.get("fanout"):
            total, fan = sum(bc.values()), bacchus["fanout"]
            lines.append(
                f"CPU per record, Bacchus fan-out {fan:.1f}{how}: adapter {bc['adapter']:,.0f} µs + router "
                f"{bc['router']:,.0f} µs + nats-server {bc['broker']:,.0f} µs = {total:,.0f} µs, {total / fan:,.0f} µs "
                f"per delivery (router {bc['router'] / fan:,.0f}, nats-server {bc['broker'] / fan:,.0f}): {cpus} cores "
                f"carry at most {cpus * 1e6 / total * fan:,.0f} deliveries/s"
            )
    return lines


def report(r: dict, out: Console, latency_s: float) -> list[Target]:
    figures = [
        f
        for f in (
            r["baselines"]["core"],
            r["baselines"]["jetstream"],
            r["baselines"].get("jetstream_after"),
            r["baselines"].get("jetstream_rtt"),
            r["baselines"].get("faststream"),
            r["baselines"].get("relay_at_rate"),
        )
        if f
    ]
    figures += [f for f in r["samband"].values() if f]
    figures += [f for f in (r.get("latency"), r.get("latency_chunks")) if f]
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
    targets_table("goals of #20 (this machine, this run; ratios against baselines measured in it)", targets, out)
    out.print(f"bench took {r['seconds']:.1f} s")
    return targets


def kv_table(title: str, rows: list[tuple[str, str]], out: Console) -> None:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


def _offer_notes(r: dict) -> list[str]:
    """How the latency run offered its records, and the figures measured beside it (none in an older
    result, which offered ten every 10 ms)."""
    if not r.get("latency"):
        return []
    if (r.get("latency_detail") or {}).get("offer", "chunks") == "chunks":
        return ["offered ten records every 10 ms"]
    notes = ["each record offered when due, as a followed source reads them"]
    chunks, relay = r.get("latency_chunks"), r["baselines"].get("relay_at_rate")
    if chunks and chunks.get("p99_ms") is not None:
        notes.append(f"ten every 10 ms: p50 {chunks['p50_ms']:.1f} ms, p99 {chunks['p99_ms']:.1f} ms")
    if relay and relay.get("p99_ms") is not None:
        notes.append(
            f"the same offer through a bare relay (3 acknowledged stores in turn, 3 processes): "
            f"p50 {relay['p50_ms']:.1f} ms, p99 {relay['p99_ms']:.1f} ms"
        )
    return notes


def _floor_note(rtt: dict, append: dict | None) -> str:
    """What one record waits for at least: its INGEST store, the audit append, its INBOX store, in turn."""
    one = f"one store alone p50 {rtt['p50_ms']:.2f} ms, p99 {rtt['p99_ms']:.2f} ms"
    if not append or append.get("p50_ms") is None:
        return f"floor here: 3 acknowledged stores in sequence (ingest, audit, inbox), {one}"
    return (
        f"floor here: ingest, then the audit append (p50 {append['p50_ms']:.2f} ms, "
        f"p99 {append['p99_ms']:.2f} ms alone), then inbox ({one}): "
        f"p50 {2 * rtt['p50_ms'] + append['p50_ms']:.2f} ms (samband bench stores)"
    )
