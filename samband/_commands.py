"""The composition verbs: `samband up` and `samband demo` (they wire broker, router and adapters)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click
from rich.table import Table

from samband.observability import (
    configure_logging,
    configure_tracing,
    metrics_port_option,
    output_console,
    serve_metrics,
    settle_heap,
)
from samband.router import policy_dir_option

console = output_console()


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=4222, show_default=True, help="Client port.")
@click.option(
    "--host",
    default=None,
    help="Address the client port listens on (default 127.0.0.1, or the deployment's). "
    "Anything but loopback is TLS only (certificates made in <state>/tls).",
)
@click.option("--tls", "tls", is_flag=True, help="TLS on the client port even on loopback.")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8222, show_default=True, help="Monitoring port.")
@click.option(
    "--http-host",
    default=None,
    help="Address the monitoring endpoint (no auth) listens on (default 127.0.0.1, or the deployment's).",
)
@click.option("--no-router", is_flag=True, help="Start only the broker.")
@policy_dir_option("Policy directory (default: the shipped demo policy). Reloaded on change or SIGHUP.")
@metrics_port_option
@click.pass_obj
def up(
    obj,
    port: int,
    host: str | None,
    tls: bool,
    http_port: int,
    http_host: str | None,
    no_router: bool,
    policy_dir: Path | None,
    metrics_port: int | None,
) -> None:
    """Start the embedded nats-server (and the router) on this deployment's state directory; Ctrl-C stops.

    Refused while another live `samband up` uses the state directory (it holds
    <state>/samband.lock) or while --port / --http-port are taken. SIGTERM or SIGINT stops it
    cleanly at any moment, while starting too. With --host other than loopback it speaks TLS only.
    """
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in before:  # until the event loop takes them over: nothing is started yet
        signal.signal(sig, lambda *_: sys.exit(0))
    endpoint = None
    try:
        endpoint = serve_metrics(metrics_port, "samband-router")  # a taken port refuses before anything starts
        configure_tracing("samband-router")
        meter = endpoint.meter("samband.router") if endpoint else None
        asyncio.run(
            _up(obj, port, http_port, no_router, policy_dir, host=host, tls=tls, http_host=http_host, meter=meter)
        )
    finally:
        if endpoint is not None:
            endpoint.stop()
        for sig, handler in before.items():
            signal.signal(sig, handler)


async def _up(
    obj,
    port: int,
    http_port: int,
    no_router: bool,
    policy_dir: Path | None,
    *,
    host: str | None = None,
    tls: bool = False,
    http_host: str | None = None,
    meter=None,
) -> None:
    from samband.broker_config import Deployment, builtin_agencies
    from samband.router import LivePolicy, create_council_keys

    from ._platform import Platform, shipped_policy_dir

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    starting = True

    def on_signal() -> None:
        stop.set()
        if starting and main is not None:
            main.cancel()  # start-up is interrupted wherever it is; `finally` takes down what was started

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    # An existing deployment is the truth about who is on the bus (onboarded agencies stay,
    # offboarded ones, core ones included, stay off); a new one starts with the core agencies.
    before = Deployment.load(obj.state_dir) if (obj.state_dir / "deployment.json").exists() else None
    agencies = before.agencies if before is not None else builtin_agencies()
    dep = Deployment(
        obj.state_dir,
        agencies=agencies.values(),
        port=port,
        http_port=http_port,
        host=host or (before.host if before else "127.0.0.1"),
        tls=tls or (before.tls if before else False),
        http_host=http_host or (before.http_host if before else "127.0.0.1"),
    )
    platform = None
    takeover: asyncio.Task | None = None
    started = False
    try:
        server = await dep.start_async()
        started = True
        console.print(f"nats-server on [bold]{dep.url}[/] (state in {dep.state_dir}, log {server.log_file})")
        if dep.tls:
            console.print(
                f"TLS required on {dep.host}:{dep.port}; clients trust {dep.tls_dir / 'ca.pem'}; "
                f"monitoring on {dep.http_host}:{dep.http_port}"
            )
        await dep.provision()
        councils = create_council_keys(dep.state_dir)  # at set-up; kept as they are afterwards
        if not no_router:
            live = LivePolicy(policy_dir or shipped_policy_dir(), councils=councils)
            loop.add_signal_handler(signal.SIGHUP, live.reload)
            platform = Platform(dep, live, dep.state_dir / "received")
            router = await platform.start_router(meter=meter)
            if router.ready.is_set():
                settle_heap()
                console.print(f"router running, policy {platform.policy.version}; Ctrl-C stops")
            else:  # e.g. the lease of a killed `up` on this state has not lapsed yet, or a `router run` leads
                console.print(
                    f"router standing by: the audit lease is held by {platform.standby_holder}; "
                    "it takes over when that lapses; Ctrl-C stops"
                )

                async def took_over() -> None:
                    await router.ready.wait()
                    console.print(f"router running, policy {live.version}; Ctrl-C stops")

                takeover = asyncio.create_task(took_over(), name="took-over")
        starting = False
        await stop.wait()
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        # stopped while starting: what was started is taken down below
    finally:
        starting = False
        if takeover is not None:
            takeover.cancel()
        if platform:
            await platform.stop()
        dep.stop()
        if started or stop.is_set():
            console.print("stopped cleanly")


@click.command()
@click.option(
    "--records",
    "n",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="Synthetic Polisen vehicle controls to send.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's state and exports in DIR (new or empty), to look at its trail with `samband console`.",
)
@click.pass_obj
def demo(obj, n: int, keep: Path | None) -> None:
    """Run Operation Bacchus on an embedded nats-server with synthetic data, print what happened."""
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise click.BadParameter(
            f"Expected a new or empty directory, got {keep} with files in it", param_hint="'--keep'"
        )
    # the demo's output is its report: logs only for errors, unless asked for (--log-level)
    configure_logging(level=getattr(obj, "log_level", None) or "error")
    configure_tracing("samband-demo")
    from ._demo import run_demo

    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    r = asyncio.run(run_demo(n, keep=keep.resolve() if keep is not None else None))
    console.print(f"[bold]samband demo[/]: Operation Bacchus (region syd) on an embedded nats-server at {r.url}")
    console.print(
        f"polisen: read {r.read} lines of vehicle controls, published {r.published}, rejected {len(r.rejected)}; "
        f"published {r.overload_reports} overload reports"
    )
    for rej in r.rejected:
        console.print(f"  [red]rejected[/] {rej}")
    console.print(
        f"SSO: co-opted transportstyrelsen live (grant {r.cooption}); policy versions {' -> '.join(r.policy_versions)}"
    )
    console.print(
        f"router: {r.decisions} decisions ({r.allowed} allow, {r.denied} deny), {r.audit_records} audit entries written"
    )
    rv = r.review
    if rv is not None:
        released = ", ".join(f"{a} ({n})" for a, n in sorted(rv.released.items())) or "no one"
        console.print(
            f"review: polisen holds its overload reports for its balancing test (LUS 2 §): {rv.records} held for "
            f"{', '.join(rv.recipients)}; reviewer-polisen released them to {released}; {rv.waiting} holds "
            f"still wait for the officer (withheld if none decides within {rv.lapse_hours} h)",
            highlight=False,
            soft_wrap=True,
        )
        for e in rv.errors:
            console.print(f"  [red]refused[/] {e}", highlight=False, soft_wrap=True)
    console.print(f"witnesses: {', '.join(r.witnessed) or 'none'} cosigned the audit log's newest checkpoint")
    console.print(f"audit verify --witnesses 3: {r.verified}", highlight=False, soft_wrap=True)
    table = Table(title="per agency (fields: what each recipient's purpose or grant lets it see)")
    for col, just in (
        ("agency", "left"),
        ("allow", "right"),
        ("deny", "right"),
        ("delivered", "right"),
        ("written to sink", "right"),
        ("fields it sees", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    idle = []  # on the bus, with a sink, but nothing was decided for them in this demo
    for agency in sorted(set(r.per_agency) | set(r.received)):
        counts: dict[str, int] = r.per_agency.get(agency, {})
        if not counts and not r.delivered.get(agency) and not r.received.get(agency):
            idle.append(agency)
            continue
        seen = "; ".join(_fields_seen(rt, f) for rt, f in sorted(r.fields.get(agency, {}).items()))
        table.add_row(
            agency,
            str(counts.get("allow", 0)),
            str(counts.get("deny", 0)),
            str(r.delivered.get(agency, 0)),
            str(r.received.get(agency, "-")),
            seen,
        )
    console.print(table)
    if idle:
        console.print(f"nothing for: {', '.join(idle)}", highlight=False, soft_wrap=True)
    rules = Table(title="decisions per rule")
    rules.add_column("decision")
    rules.add_column("rule")
    rules.add_column("count", justify="right")
    for (decision, rule), count in sorted(r.rules.items()):
        rules.add_row(decision, rule, str(count))
    console.print(rules)
    _print_follow_up(r.follow_up)
    console.print(f"done in {r.seconds:.1f}s")
    _print_console_hint(keep)
    incomplete = (
        r.published + r.overload_reports == 0
        or any(r.received.get(a, 0) != d for a, d in r.delivered.items())
        or sum(r.delivered.values()) != r.allowed
        or r.audit_records < r.decisions
        or not r.verified.startswith("OK")
        or r.review is None
        or bool(r.review.errors)
        or r.review.records != r.overload_reports
    )
    report = r.follow_up.report if r.follow_up else None
    incomplete = incomplete or report is None or report.counted == 0
    if incomplete:
        console.print("[red]demo incomplete: not every allowed decision was audited, delivered and written[/]")
        sys.exit(1)


def _print_console_hint(keep: Path | None) -> None:
    """How to look at the demo's trail in the browser (`samband console`, docs/console.md)."""
    if keep is None:
        console.print("the trail was in a temporary directory; keep it with `samband demo --keep DIR` to browse it")
        return
    state = keep / "state"
    console.print("look at the demo's trail in a browser (docs/console.md):", highlight=False)
    console.print(f"  samband --state-dir {state} up --port 4223 --http-port 8223   # terminal 1", highlight=False)
    console.print(f"  samband --state-dir {state} console --as auditor", highlight=False, soft_wrap=True)


def _fields_seen(record_type: str, fields: tuple[str, ...]) -> str:
    from samband.schemas import RECORD_TYPES

    dropped = [f for f in RECORD_TYPES[record_type].__struct_fields__ if f not in fields]
    return f"{record_type}: " + (f"all but {', '.join(dropped)}" if dropped else "all fields")


def _print_follow_up(f) -> None:
    """The centres' situation pictures (who got the priority persons) and Bacchus's outcome table."""
    if f is None:
        return
    from samband.adapters import report_table

    for p in f.pictures:
        console.print(
            f"situation picture from [bold]{p.centre}[/] ({p.operation}) reached "
            f"{len(p.with_persons) + len(p.without)} members; "
            f"with the priority persons: {', '.join(p.with_persons) or '-'}; "
            f"without them: {', '.join(p.without) or '-'}",
            highlight=False,
        )
    if f.report is not None:
        console.print(
            f"Operation Bacchus's results (2017 report, section 6): {f.outcomes_sent} records and outcomes sent "
            "by the agencies' adapters, routed to Ruc Syd and the national follow-up"
        )
        wide = output_console()
        wide.width = max(wide.width, 100)  # the table needs 93 columns; narrower, rich would wrap its words
        wide.print(report_table(f.report, f.names))
