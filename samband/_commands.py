"""The composition verbs: `samband up` and `samband demo` (they wire broker, router and adapters)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click
from rich.console import Console
from rich.table import Table

from samband.observability import configure_logging, configure_tracing

console = Console()


@click.command()
@click.option("--port", type=int, default=4222, show_default=True, help="Client port on 127.0.0.1.")
@click.option("--http-port", type=int, default=8222, show_default=True, help="Monitoring port on 127.0.0.1.")
@click.option("--no-router", is_flag=True, help="Start only the broker.")
@click.pass_obj
def up(obj, port: int, http_port: int, no_router: bool) -> None:
    """Start the embedded nats-server (and the router) on this deployment's state directory; Ctrl-C stops."""
    configure_logging()
    configure_tracing("samband-router")
    asyncio.run(_up(obj, port, http_port, no_router))


async def _up(obj, port: int, http_port: int, no_router: bool) -> None:
    from samband.broker_config import Deployment, builtin_agencies
    from samband.router import Policy

    from ._platform import Platform

    agencies = builtin_agencies()
    if (obj.state_dir / "deployment.json").exists():
        agencies.update(Deployment.load(obj.state_dir).agencies)
    dep = Deployment(obj.state_dir, agencies=agencies.values(), port=port, http_port=http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = dep.start()
    console.print(f"nats-server on [bold]{dep.url}[/] (state in {dep.state_dir}, log {server.log_file})")
    platform = None
    try:
        await dep.provision()
        if not no_router:
            platform = Platform(dep, Policy.skeleton(), dep.state_dir / "received")
            await platform.start_router()
            console.print(f"router running, policy {platform.policy.version}; Ctrl-C stops")
        await stop.wait()
    finally:
        if platform:
            await platform.stop()
        dep.stop()
        console.print("stopped cleanly")


@click.command()
@click.option("--records", "n", type=int, default=200, show_default=True, help="Synthetic Polisen records to send.")
def demo(n: int) -> None:
    """Run the whole platform on an embedded nats-server with synthetic data, print what happened."""
    configure_logging(level="error")
    configure_tracing("samband-demo")
    from ._demo import run_demo

    result = asyncio.run(run_demo(n))
    console.print(f"[bold]samband demo[/] on an embedded nats-server at {result.url}")
    console.print(f"polisen: read {result.read} lines, published {result.published}, rejected {len(result.rejected)}")
    for r in result.rejected:
        console.print(f"  [red]rejected[/] {r}")
    console.print(f"router: {result.decisions} decisions ({result.allowed} allow, {result.denied} deny), "
                  f"{result.audit_records} audit records written")
    table = Table(title="delivered per agency")
    table.add_column("agency")
    table.add_column("delivered by router", justify="right")
    table.add_column("written to sink", justify="right")
    for agency in sorted(set(result.delivered) | set(result.received)):
        table.add_row(agency, str(result.delivered.get(agency, 0)), str(result.received.get(agency, 0)))
    console.print(table)
    console.print(f"done in {result.seconds:.1f}s")
    expected = result.published
    if sum(result.received.values()) < expected or result.audit_records < result.decisions:
        console.print("[red]demo incomplete: not every published record was delivered and audited[/]")
        sys.exit(1)
