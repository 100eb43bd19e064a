"""`samband schemas export DIR` and `samband schemas check DIR`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ._export import check_snapshot, export_schemas

__all__ = ["commands"]

_JSON = click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout (exit code as without it).")


def _console() -> Console:
    # As wide as the terminal, not cut when piped (samband.observability.output_console does the
    # same; schemas depends on nothing of ours, so it says it again here).
    return Console(width=None if sys.stdout.isatty() else 10_000)


@click.group("schemas")
def schemas() -> None:
    """The shared schemas: JSON Schema and AsyncAPI export, compatibility check."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_JSON
def export(directory: Path, as_json: bool) -> None:
    """Write one JSON Schema per record type, the envelope's, and the AsyncAPI 3.0 document into DIRECTORY."""
    written = export_schemas(directory)
    rows = []
    for path in written:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows.append((path, doc.get("x-samband-version") or doc.get("info", {}).get("version", "")))
    if as_json:
        click.echo(json.dumps([{"file": str(p), "version": v} for p, v in rows]))
        return
    table = Table("file", "version", title=f"{len(written)} files in {directory}")
    for path, version in rows:
        table.add_row(path.name, version)
    _console().print(table)


@schemas.command("check")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@_JSON
def check(directory: Path, as_json: bool) -> None:
    """Compare the schemas of this code with a snapshot in DIRECTORY; fail on a change its version does not allow."""
    problems = check_snapshot(directory)
    if as_json:
        click.echo(json.dumps({"compatible": not problems, "snapshot": str(directory), "problems": problems}))
        sys.exit(1 if problems else 0)
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} incompatible change(s) against {directory}")
    click.echo(f"compatible with the snapshot in {directory}")


commands = [schemas]
