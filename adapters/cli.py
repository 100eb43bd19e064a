"""`samband adapter ...`: run an agency's adapter, make sample exports, list dead letters."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ._deadletter import list_dead_letters
from ._errors import AdapterError
from ._inbound import InboxSink, consume_inbox
from ._mapping import native_format
from ._registry import mapping_for, write_export
from ._runtime import PublishSummary, publish_records
from ._sources import read_source
from ._state import Positions

console = Console(stderr=True)


@click.group("adapter")
def adapter() -> None:
    """Run an agency's adapter: publish its native export, receive its inbox, see its dead letters."""


def _mapping(agency: str, mapping_file: Path | None):
    try:
        return mapping_for(agency, mapping_file=mapping_file)
    except AdapterError as exc:
        raise click.ClickException(str(exc)) from exc


@adapter.command("sample")
@click.argument("agency")
@click.argument("n", type=int)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=2017, show_default=True)
@click.option("--operation", default="bacchus-2017", show_default=True)
@click.option("--region", default="syd", show_default=True)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A declarative mapping file (for an agency without a mapping module).",
)
def sample(
    agency: str, n: int, out_dir: Path, seed: int, operation: str, region: str, mapping_file: Path | None
) -> None:
    """Write N synthetic native records for AGENCY into OUT_DIR, in the agency's own export format."""
    mapping = _mapping(agency, mapping_file)
    records = mapping.sample(random.Random(seed), n, operation=operation, region=region)
    click.echo(str(write_export(mapping, records, out_dir)))


@adapter.command("run")
@click.argument("agency")
@click.option(
    "--source",
    type=click.Path(exists=True, allow_dash=True, path_type=Path),
    help="A native export: a file, a directory being written to, or - for stdin.",
)
@click.option("--follow", is_flag=True, help="Keep reading: tail the file, pick up new files in the directory.")
@click.option(
    "--sink",
    "sink_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("received"),
    show_default=True,
    help="Directory for the JSON-lines file of delivered records.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where source positions are kept [default: <state-dir>/adapters/<agency>.positions.json].",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A declarative mapping file (for an agency without a mapping module).",
)
@click.option("--once", is_flag=True, help="Exit when the source is published and the inbox is idle.")
@click.option("--no-inbox", is_flag=True, help="Only publish; do not consume the agency's inbox.")
@click.pass_obj
def run(
    obj,
    agency: str,
    source: Path | None,
    follow: bool,
    sink_dir: Path,
    state_file: Path | None,
    mapping_file: Path | None,
    once: bool,
    no_inbox: bool,
) -> None:
    """Publish AGENCY's native export (--source) and write its inbox to a sink until Ctrl-C."""
    mapping = _mapping(agency, mapping_file)
    state_file = state_file or obj.state_dir / "adapters" / f"{agency}.positions.json"
    try:
        asyncio.run(_run(obj, mapping, source, follow, sink_dir, state_file, once, no_inbox))
    except AdapterError as exc:
        raise click.ClickException(str(exc)) from exc


def _total_bytes(source: Path) -> int:
    if source.is_file():
        return source.stat().st_size
    if source.is_dir():
        return sum(p.stat().st_size for p in source.iterdir() if p.is_file())
    return 0


async def _publish(nc, mapping, source: Path, follow: bool, state_file: Path, stop: asyncio.Event) -> PublishSummary:
    positions = Positions(state_file) if str(source) != "-" else None
    items = read_source(source, native_format(mapping), positions=positions, follow=follow, stop=stop)
    show_bar = not follow and str(source) != "-" and console.is_terminal
    if not show_bar:
        return await publish_records(nc, mapping, items, positions=positions, retry_for=None)
    total = _total_bytes(source)
    done: dict[str, int] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{mapping.agency} {source.name}", total=total)

        def advance(item) -> None:
            mark = getattr(item, "mark", None)
            if mark is not None:
                done[item.source] = mark.offset
                bar.update(task, completed=sum(done.values()))

        return await publish_records(nc, mapping, items, positions=positions, retry_for=None, progress=advance)


def _print_summary(agency: str, summary: PublishSummary) -> None:
    table = Table(title=f"{agency}: outbound")
    for col in ("read", "published", "duplicates", "dead-lettered"):
        table.add_column(col, justify="right")
    table.add_row(str(summary.read), str(summary.published), str(summary.duplicates), str(summary.dead_lettered))
    console.print(table)
    for rej in summary.rejected[:50]:
        console.print(f"  [red]dlq.{rej.kind}[/] {rej}")
    if len(summary.rejected) > 50:
        console.print(f"  ... and {len(summary.rejected) - 50} more: `samband adapter dlq {agency}`")


async def _run(
    obj, mapping, source: Path | None, follow: bool, sink_dir: Path, state_file: Path, once: bool, no_inbox: bool
) -> None:
    agency = mapping.agency
    nc = await obj.connect(agency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sink = None if no_inbox else InboxSink(sink_dir / f"{agency}.jsonl")
    consumer = asyncio.create_task(consume_inbox(nc, agency, sink, stop, receipts=True)) if sink is not None else None
    try:
        if source is not None:
            summary = await _publish(nc, mapping, source, follow, state_file, stop)
            _print_summary(agency, summary)
        if once or consumer is None:
            last = -1
            while sink is not None and len(sink) != last and not stop.is_set():
                last = len(sink)
                await asyncio.sleep(2)
            stop.set()
        if consumer is not None:
            await consumer
    finally:
        stop.set()
        if sink is not None:
            sink.close()
        await nc.close()
    if sink is not None:
        console.print(f"[bold]{agency}[/]: {len(sink)} delivered records in {sink.path}")


@adapter.command("dlq")
@click.argument("agency")
@click.option(
    "--kind", help="Only dead letters of this kind (syntax, encoding, oversized, truncated, missing-field, ...)."
)
@click.option("--limit", type=int, default=200, show_default=True, help="The most recent N.")
@click.option("--raw", "show_raw", is_flag=True, help="Also print each record's raw bytes (the agency's own data).")
@click.pass_obj
def dlq(obj, agency: str, kind: str | None, limit: int, show_raw: bool) -> None:
    """List AGENCY's dead letters (read with the agency's own credentials)."""
    try:
        letters = asyncio.run(_dlq(obj, agency, kind, limit))
    except AdapterError as exc:
        raise click.ClickException(str(exc)) from exc
    out = Console()
    table = Table(title=f"{agency}: dead letters ({len(letters)})")
    for col in ("seq", "rejected at", "kind", "position", "field", "reason"):
        table.add_column(col, overflow="fold")
    for seq, letter in letters:
        table.add_row(
            str(seq),
            letter.rejected_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.kind,
            letter.position,
            letter.field or "",
            letter.reason,
        )
    out.print(table)
    if show_raw:
        for seq, letter in letters:
            body = letter.raw.decode("utf-8", "replace") if letter.raw is not None else f"(not kept: {letter.raw_ref})"
            out.print(f"[bold]{seq}[/] {letter.position}: {body}", markup=True, highlight=False)


async def _dlq(obj, agency: str, kind: str | None, limit: int):
    nc = await obj.connect(agency)
    try:
        return await list_dead_letters(nc, limit=limit, kind=kind)
    finally:
        await nc.close()


commands = [adapter]
