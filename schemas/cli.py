"""`samband schemas export DIR` and `samband schemas check DIR`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ._export import check_snapshot, export_schemas

__all__ = ["commands"]


@click.group("schemas")
def schemas() -> None:
    """The shared schemas: JSON Schema and AsyncAPI export, compatibility check."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write one JSON Schema per record type, the envelope's, and the AsyncAPI 3.0 document into DIRECTORY."""
    written = export_schemas(directory)
    table = Table("file", "version", title=f"{len(written)} files in {directory}")
    for path in written:
        doc = json.loads(path.read_text(encoding="utf-8"))
        table.add_row(path.name, doc.get("x-samband-version") or doc.get("info", {}).get("version", ""))
    Console().print(table)


@schemas.command("check")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
def check(directory: Path) -> None:
    """Compare the schemas of this code with a snapshot in DIRECTORY; fail on a change its version does not allow."""
    problems = check_snapshot(directory)
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} incompatible change(s) against {directory}")
    click.echo(f"compatible with the snapshot in {directory}")


commands = [schemas]
