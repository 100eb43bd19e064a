"""`samband adapter ...` (run an agency's adapter, make sample exports, list dead letters), and
`samband outcomes report` (in `_outcomes_cli`)."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import click
import msgspec
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from samband.observability import metrics_port_option, output_console, serve_metrics
from samband.schemas import REGIONS, unknown_name

from ._deadletter import list_dead_letters
from ._errors import UnknownAgency
from ._figures import FIGURES, figure_events
from ._inbound import InboxSink, consume_inbox
from ._mapping import native_format
from ._metrics import instrument_adapter
from ._outcomes_cli import outcomes
from ._registry import mapping_for, write_export
from ._runtime import PublishSummary, publish_records
from ._sources import read_source
from ._state import Positions
from ._utfall import OutcomeExport

console = output_console(stderr=True)
_JSON = click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout.")
_MAPPING = click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A declarative mapping file (for an agency without a mapping module).",
)


@click.group("adapter")
def adapter() -> None:
    """Run an agency's adapter: publish its native export, receive its inbox, see its dead letters."""


def _mapping(obj, agency: str, mapping_file: Path | None, *, outcome_export: bool = False):
    if outcome_export:  # the shared outcome export (utfall CSV), read by any agency's adapter
        return OutcomeExport(agency)
    onboarded = obj.onboarded_mapping(agency) if obj is not None and mapping_file is None else None
    try:
        return mapping_for(agency, mapping_file=mapping_file, onboarded=onboarded)
    except UnknownAgency as exc:
        raise click.BadParameter(str(exc), param_hint="'AGENCY'") from None


def _on_the_bus(obj, agency: str) -> None:
    """A usage error, with the closest name, unless ``agency`` has credentials in this deployment."""
    dep = obj.deployment()
    if agency not in dep.agencies:
        raise click.BadParameter(unknown_name("an agency on the bus", agency, dep.agencies), param_hint="'AGENCY'")


@adapter.command("sample")
@click.argument("agency")
@click.argument("n", type=click.IntRange(min=1))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=2017, show_default=True)
@click.option("--operation", default="bacchus-2017", show_default=True)
@click.option("--region", default="syd", show_default=True)
@_MAPPING
@click.option("--outcome-export", is_flag=True, help="Write N rows of the outcome export (utfall CSV) instead.")
@click.option(
    "--figures",
    type=click.Choice(sorted(FIGURES)),
    help="A year of outcome events adding up to the seeds' figures (N events per figure); "
    "writes the agency's export and/or its outcome export.",
)
@_JSON
@click.pass_obj
def sample(
    obj,
    agency: str,
    n: int,
    out_dir: Path,
    seed: int,
    operation: str,
    region: str,
    mapping_file: Path | None,
    outcome_export: bool,
    figures: str | None,
    as_json: bool,
) -> None:
    """Write N synthetic native records for AGENCY into OUT_DIR, in the agency's own export format."""
    if region not in REGIONS:
        raise click.BadParameter(unknown_name("a region", region, REGIONS), param_hint="'--region'")
    mapping = _mapping(obj, agency, mapping_file, outcome_export=outcome_export)
    if figures is None:
        records = mapping.sample(random.Random(seed), n, operation=operation, region=region)
        path = write_export(mapping, records, out_dir, name=_export_name(mapping))
        if as_json:
            click.echo(msgspec.json.encode({"agency": mapping.agency, "records": n, "file": str(path)}).decode())
        else:
            click.echo(str(path))
        return
    involved = sorted({line.agency for line in FIGURES[figures].lines})
    if agency not in involved:
        raise click.UsageError(f"Expected an agency with results in {figures} ({', '.join(involved)}), got `{agency}`")
    natives, rows = figure_events(mapping, figures, random.Random(seed), n)
    written = []
    if natives:
        written.append(write_export(mapping, natives, out_dir))
    if rows:
        export = OutcomeExport(agency)
        written.append(write_export(export, rows, out_dir, name=_export_name(export)))
    if as_json:
        click.echo(
            msgspec.json.encode({"agency": agency, "figures": figures, "files": [str(p) for p in written]}).decode()
        )
        return
    for path in written:
        click.echo(str(path))


def _export_name(mapping) -> str | None:
    suffix = getattr(mapping, "suffix", None)
    return f"{mapping.agency}{suffix}" if suffix else None


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
@_MAPPING
@click.option("--once", is_flag=True, help="Exit when the source is published and the inbox is idle.")
@click.option("--no-inbox", is_flag=True, help="Only publish; do not consume the agency's inbox.")
@click.option(
    "--outcomes",
    "derive_outcomes",
    is_flag=True,
    help="Beside each record with an amount (reassessment, recovery claim, stopped payment, distraint, "
    "payment security), publish the outcome derived from it for the follow-up.",
)
@click.option("--outcome-export", is_flag=True, help="The source is the agency's outcome export (utfall CSV).")
@metrics_port_option
@_JSON
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
    derive_outcomes: bool,
    outcome_export: bool,
    metrics_port: int | None,
    as_json: bool,
) -> None:
    """Publish AGENCY's native export (--source) and write its inbox to a sink until Ctrl-C.

    With --follow a record is published as soon as the export has nothing more for now (within
    0.1 s of being written), not when a group of records is full.
    """
    mapping = _mapping(obj, agency, mapping_file, outcome_export=outcome_export)
    _on_the_bus(obj, mapping.agency)
    if follow and source is None:
        raise click.UsageError("Expected --source with --follow (what to follow), got none")
    kind = ".utfall" if outcome_export else ""
    state_file = state_file or obj.state_dir / "adapters" / f"{agency}{kind}.positions.json"
    endpoint = serve_metrics(metrics_port, f"samband-adapter-{mapping.agency}")  # before connecting: fails first
    try:
        result = asyncio.run(
            _run(
                obj,
                mapping,
                source,
                follow,
                sink_dir,
                state_file,
                once,
                no_inbox,
                derive_outcomes,
                as_json,
                meter=endpoint.meter("samband.adapter") if endpoint else None,
            )
        )
    finally:
        if endpoint is not None:
            endpoint.stop()
    if as_json:
        click.echo(msgspec.json.encode(result).decode())


def _total_bytes(source: Path) -> int:
    if source.is_file():
        return source.stat().st_size
    if source.is_dir():
        return sum(p.stat().st_size for p in source.iterdir() if p.is_file())
    return 0


async def _publish(
    nc,
    mapping,
    source: Path,
    follow: bool,
    state_file: Path,
    stop: asyncio.Event,
    derive_outcomes: bool = False,
    summary: PublishSummary | None = None,
) -> PublishSummary:
    positions = Positions(state_file) if str(source) != "-" else None
    items = read_source(source, native_format(mapping), positions=positions, follow=follow, stop=stop)
    show_bar = not follow and str(source) != "-" and console.is_terminal
    if not show_bar:
        return await publish_records(
            nc, mapping, items, positions=positions, retry_for=None, derive_outcomes=derive_outcomes, summary=summary
        )
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

        return await publish_records(
            nc,
            mapping,
            items,
            positions=positions,
            retry_for=None,
            progress=advance,
            derive_outcomes=derive_outcomes,
            summary=summary,
        )


def _print_summary(agency: str, summary: PublishSummary) -> None:
    table = Table(title=f"{agency}: outbound")
    derived = ("outcomes derived",) if summary.outcomes else ()
    for col in ("read", "published", *derived, "duplicates", "dead-lettered"):
        table.add_column(col, justify="right")
    counts = (summary.read, summary.published, *((summary.outcomes,) if derived else ()), summary.duplicates)
    table.add_row(*map(str, counts), str(summary.dead_lettered))
    console.print(table)
    for rej in summary.rejected[:50]:
        console.print(f"  [red]dlq.{rej.kind}[/] {rej}")
    if len(summary.rejected) > 50:
        console.print(f"  ... and {len(summary.rejected) - 50} more: `samband adapter dlq {agency}`")


async def _run(
    obj,
    mapping,
    source: Path | None,
    follow: bool,
    sink_dir: Path,
    state_file: Path,
    once: bool,
    no_inbox: bool,
    derive_outcomes: bool = False,
    as_json: bool = False,
    meter=None,
) -> dict:
    agency = mapping.agency
    nc = await obj.connect(agency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sink = None if no_inbox else InboxSink(sink_dir / f"{agency}.jsonl")
    consumer = asyncio.create_task(consume_inbox(nc, agency, sink, stop, receipts=True)) if sink is not None else None
    counted = PublishSummary()  # read by the metrics endpoint while the run goes on
    if meter is not None:
        instrument_adapter(meter, agency, counted, sink)
    result: dict = {"agency": agency}
    try:
        if source is not None:
            summary = await _publish(nc, mapping, source, follow, state_file, stop, derive_outcomes, counted)
            result.update(
                read=summary.read,
                published=summary.published,
                outcomes=summary.outcomes,
                duplicates=summary.duplicates,
                dead_lettered=summary.dead_lettered,
                rejected=[{"kind": r.kind, "position": r.position, "reason": str(r)} for r in summary.rejected],
            )
            if not as_json:
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
        result.update(delivered=len(sink), sink=str(sink.path))
        if not as_json:
            console.print(f"[bold]{agency}[/]: {len(sink)} delivered records in {sink.path}")
    return result


@adapter.command("dlq")
@click.argument("agency")
@click.option(
    "--kind", help="Only dead letters of this kind (syntax, encoding, oversized, truncated, missing-field, ...)."
)
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="The most recent N.")
@click.option("--raw", "show_raw", is_flag=True, help="Also print each record's raw bytes (the agency's own data).")
@_JSON
@click.pass_obj
def dlq(obj, agency: str, kind: str | None, limit: int, show_raw: bool, as_json: bool) -> None:
    """List AGENCY's dead letters (read with the agency's own credentials)."""
    from ._errors import REJECT_KINDS

    _on_the_bus(obj, agency)
    if kind is not None and kind not in REJECT_KINDS:
        raise click.BadParameter(unknown_name("a dead-letter kind", kind, REJECT_KINDS), param_hint="'--kind'")
    letters = asyncio.run(_dlq(obj, agency, kind, limit))
    if as_json:
        docs = []
        for seq, letter in letters:
            doc = msgspec.to_builtins(letter)
            if not show_raw:
                doc.pop("raw", None)
            docs.append({"seq": seq, **doc})
        click.echo(msgspec.json.encode(docs).decode())
        return
    out = output_console()
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


commands = [adapter, outcomes]
