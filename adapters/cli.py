"""`samband adapter ...`: run an agency's adapter, make sample exports."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import click
import msgspec
from rich.console import Console

from ._registry import mapping_for
from ._runtime import InboxSink, consume_inbox, publish_records
from ._sources import read_jsonl

console = Console(stderr=True)


@click.group("adapter")
def adapter() -> None:
    """Run an agency's adapter: publish its native export, receive its inbox."""


@adapter.command("sample")
@click.argument("agency")
@click.argument("n", type=int)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=2017, show_default=True)
def sample(agency: str, n: int, out_dir: Path, seed: int) -> None:
    """Write N synthetic native records for AGENCY into OUT_DIR."""
    mapping = mapping_for(agency)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{agency}.jsonl"
    with open(path, "wb") as f:
        for rec in mapping.sample(random.Random(seed), n):  # type: ignore[attr-defined]
            f.write(msgspec.json.encode(rec) + b"\n")
    click.echo(str(path))


@adapter.command("run")
@click.argument("agency")
@click.option("--source", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A native export to publish.")
@click.option("--sink", "sink_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("received"), show_default=True,
              help="Directory for the JSON-lines file of delivered records.")
@click.option("--once", is_flag=True, help="Exit when the source is published and the inbox is idle.")
@click.pass_obj
def run(obj, agency: str, source: Path | None, sink_dir: Path, once: bool) -> None:
    """Publish AGENCY's native export (--source) and write its inbox to a sink until Ctrl-C."""
    asyncio.run(_run(obj, agency, source, sink_dir, once))


async def _run(obj, agency: str, source: Path | None, sink_dir: Path, once: bool) -> None:
    nc = await obj.connect(agency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sink = InboxSink(sink_dir / f"{agency}.jsonl")
    consumer = asyncio.create_task(consume_inbox(nc, agency, sink, stop))
    try:
        if source is not None:
            summary = await publish_records(nc, mapping_for(agency), read_jsonl(source))
            console.print(
                f"[bold]{agency}[/]: read {summary.read}, published {summary.published}, "
                f"duplicates {summary.duplicates}, rejected {len(summary.rejected)}"
            )
            for rej in summary.rejected:
                console.print(f"  [red]rejected[/] {rej.position}: {rej.reason}")
        if once:
            last = -1
            while len(sink) != last:
                last = len(sink)
                await asyncio.sleep(2)
            stop.set()
        await consumer
    finally:
        stop.set()
        sink.close()
        await nc.close()
    console.print(f"[bold]{agency}[/]: {len(sink)} delivered records in {sink.path}")
commands = [adapter]
