"""`samband status`: what is running on this deployment, once or refreshed (`--watch`), or as JSON."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click
import msgspec
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from samband.observability import configure_logging, output_console
from samband.router import policy_dir_option

from ._status import Status, StatusSession, StatusUnavailable

__all__ = ["status"]

console = output_console()


@click.command()
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5, max=3600),
    is_flag=False,
    flag_value=2.0,
    default=None,
    metavar="[SECONDS]",
    help="Read again every SECONDS (default 2) until Ctrl-C; with --json one JSON document a line.",
)
@click.option("--json", "as_json", is_flag=True, help="The status as JSON on stdout.")
@policy_dir_option("The router's policy directory, to name the policy version it holds (default: the shipped one).")
@click.pass_obj
def status(obj, watch: float | None, as_json: bool, policy_dir: Path | None) -> None:
    """The broker, the audit log's writer and standbys, each agency's lag, dead letters, quarantined
    records and parked deliveries, the newest checkpoint's age, the policy in force.

    Read-only, as the system account's `admin` (the server's own figures) and the oversight's
    `auditor` (the lease, the checkpoint, the decisions). Exit 1 with one line when the broker
    does not answer.
    """
    configure_logging(level=getattr(obj, "log_level", None) or "error")  # the output is the report
    dep = obj.deployment()
    try:
        asyncio.run(_status(dep, policy_dir or obj.policy_dir(), watch, as_json))
    except StatusUnavailable as exc:
        raise click.ClickException(str(exc)) from None


async def _status(dep, policy_dir: Path, watch: float | None, as_json: bool) -> None:
    async with StatusSession(dep, policy_dir) as session:
        if watch is None:
            _print(await session.read(), as_json)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if as_json:
            while not stop.is_set():
                _print(await session.read(), True)
                await _sleep(stop, watch)
            return
        with Live(render(await session.read()), console=console, auto_refresh=False) as live:
            while not await _sleep(stop, watch):
                live.update(render(await session.read()), refresh=True)


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until stopped; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _print(s: Status, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(msgspec.json.encode(s).decode() + "\n")
        sys.stdout.flush()
    else:
        console.print(render(s))


def render(s: Status) -> Group:
    b, w, a, p = s.broker, s.writer, s.audit, s.policy
    cluster = f"cluster {b.cluster}, peers {', '.join(b.peers) or 'none answering'}" if b.cluster else "standalone"
    lines = [
        f"broker   nats-server {b.version} `{b.server}` at {b.url}, up {age(b.uptime_seconds)}, "
        f"{b.connections} connections, {cluster}",
        "writer   "
        + (
            f"{w.holder} holds the audit lease since {w.since:%Y-%m-%d %H:%M:%S} UTC"
            if w.holder and w.since
            else "nobody holds the audit lease: no router writes the log"
        )
        + f"; {w.routers} router(s) connected, {w.standby} standing by",
        f"audit    {a.entries} entries, newest checkpoint "
        + (f"{age(a.checkpoint_age_seconds)} old" if a.checkpoint_age_seconds is not None else "none")
        + f", signature {a.verified}",
        f"policy   {p.version} ({p.directory}); in force: {', '.join(p.in_force) or 'nothing'}; "
        f"{p.decisions} council decision message(s)",
    ]
    table = Table(title=f"agencies at {s.at:%Y-%m-%d %H:%M:%S} UTC")
    for col in ("agency", "connected", "ingest lag", "oldest", "inbox lag", "dead letters", "quarantined", "parked"):
        table.add_column(col, justify="left" if col == "agency" else "right")
    for r in s.agencies:
        table.add_row(
            r.agency,
            str(r.connections),
            _warn(r.ingest_lag),
            age(r.ingest_oldest_seconds) if r.ingest_oldest_seconds is not None else "-",
            _warn(r.inbox_lag) if r.inbox_lag is not None else "no reader",
            _warn(r.dead_letters),
            _warn(r.quarantined),
            _warn(r.parked),
        )
    return Group(*(Text(line) for line in lines), table)


def _warn(n: int) -> Text:
    return Text(str(n), style="yellow" if n else "")


def age(seconds: float | None) -> str:
    """``95.2`` -> ``1m35s``: whole seconds, the two largest units."""
    if seconds is None:
        return "-"
    left = max(0, int(seconds))
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3_600)
    minutes, secs = divmod(left, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return "".join(f"{n}{u}" for n, u in parts[:2])
