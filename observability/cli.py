"""`samband audit query|verify|export|reconcile|provision` and `samband witness`: what security chiefs type.

Thin: what each verb does is in `samband.observability.audit` (`_verbs.py`, `_witness.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import JustifyMethod
from rich.table import Table

from samband.schemas import REGIONS, InvalidIdentifier, normalise_personnummer, unknown_name
from samband.schemas.layout import OVERSIGHT

from ._cli_common import _identity, _in_order, _pinned, _public_key, _run, _when, audit, console, err
from ._cli_log import witness
from ._errors import ObservabilityError
from ._pseudonym import Pseudonymiser
from .audit import (
    ENTRY_DECODER,
    AuditIndex,
    AuditRecord,
    TrailProblem,
    query_online,
    read_export,
)

__all__ = ["audit", "commands", "witness"]


@audit.command("query")
@click.option("--person", help="A personnummer or samordningsnummer; searched by its keyed pseudonym.")
@click.option("--from", "origin", help="The sending agency.")
@click.option("--to", "recipient", help="The receiving agency.")
@click.option("--operation", help="Joint operation id.")
@click.option("--region", help="Region (or `national`).")
@click.option("--decision", type=click.Choice(["allow", "deny"]))
@click.option("--since", callback=_when, help="From this time (ISO 8601, UTC if no zone).")
@click.option("--until", callback=_when, help="Up to this time.")
@click.option(
    "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Query an export instead."
)
@click.option("--json", "as_json", is_flag=True, help="The matching entries' stored bytes as a JSON array.")
@click.option("--reindex", is_flag=True, help="Throw the local index away and build it again from the whole log.")
@click.option(
    "--from-stream",
    is_flag=True,
    help="Fetch each hit's bundle from the AUDIT stream (checked against the index) instead of the index's copy.",
)
@_identity
@_public_key
@click.pass_obj
def query(
    obj, person, origin, recipient, operation, region, decision, since, until, file, as_json, reindex, from_stream,
    identity, public_key,
) -> None:  # fmt: skip
    """List the decisions matching every filter given.

    From the broker through the identity's index (<state>/audit-index/IDENTITY/): only what was
    appended since the last query is read, checked onto what was indexed up to the newest
    signed checkpoint. If the log no longer holds what was indexed, it says what and where and
    gives no answer (exit 1).
    """
    _in_order(since, until)
    known = obj.agencies()
    obj.check_agency(origin, "--from", known=known)
    obj.check_agency(recipient, "--to", known=known)
    if region is not None and region not in REGIONS:
        raise click.BadParameter(unknown_name("a region", region, REGIONS), param_hint="'--region'")
    subject = None
    if person:
        try:
            canonical = normalise_personnummer(person)
        except InvalidIdentifier as exc:
            raise click.BadParameter(str(exc), param_hint="'--person'") from None
        key_path = obj.state_dir / "keys" / "pseudonym.key"
        try:
            key = bytes.fromhex(key_path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise click.ClickException(
                f"Expected the deployment's pseudonym key at {key_path}, could not read it: {exc}"
            ) from None
        subject = Pseudonymiser(key)(canonical)
    filters = dict(
        subject=subject, origin=origin, recipient=recipient, operation=operation, region=region, decision=decision,
        since=since, until=until,
    )  # fmt: skip
    if file:
        try:
            index = AuditIndex(read_export(file).entries)
        except ObservabilityError as exc:
            raise click.ClickException(str(exc)) from None
        stored, total = [index.records[i] for i in index.positions(**filters)], len(index)
    else:
        if from_stream and identity != OVERSIGHT:
            raise click.UsageError("--from-stream is for the oversight: an agency may not get messages by sequence")
        verifier = _pinned(obj, public_key)

        async def run():
            nc = await obj.connect(identity)
            try:
                return await query_online(
                    nc, obj.state_dir, identity, verifier, filters, reindex=reindex, from_stream=from_stream,
                    progress=_progress,
                )  # fmt: skip
            finally:
                await nc.close()

        try:
            stored, total = _run(run())
        except TrailProblem as exc:
            console.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
            err.print(
                "No answer: the log no longer holds what was indexed, so an answer could be incomplete. "
                "`samband audit verify` checks the whole log; `--reindex` builds the index again from it as it is now.",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(1)
    if as_json:
        sys.stdout.buffer.write(b"[" + b",".join(stored) + b"]\n")  # the stored bytes, not re-encoded
        return
    found = [r for r in (ENTRY_DECODER.decode(d) for d in stored) if isinstance(r, AuditRecord)]
    header, table = _table(found, total)
    console.print(header, soft_wrap=True, highlight=False)
    if found:
        console.print(table)


def _progress(done: int, last: int) -> None:
    err.print(f"indexing the audit log: entry {done:,} of {last:,}", highlight=False)


def _table(found: list[AuditRecord], total: int) -> tuple[str, Table]:
    # Columns whose value is the same on every row go to the title: the table stays readable
    # in an 80-column terminal for the usual query (one operation, one region).
    cols: list[tuple[str, Callable[[AuditRecord], str], JustifyMethod]] = [
        ("index", lambda r: str(r.index), "right"),
        ("time (UTC)", lambda r: r.at.strftime("%Y-%m-%d %H:%M:%S"), "left"),
        ("envelope", lambda r: r.envelope_id, "left"),
        ("from → to", lambda r: f"{r.origin} → {r.recipient}", "left"),
        ("record type", lambda r: r.record_type, "left"),
        ("operation", lambda r: r.operation, "left"),
        ("region", lambda r: r.region, "left"),
        ("decision", lambda r: f"[{'green' if r.decision == 'allow' else 'red'}]{r.decision}[/]", "left"),
        ("rule", lambda r: r.rule, "left"),
        ("legal basis", lambda r: r.legal_basis or "-", "left"),
        ("purpose", lambda r: r.purpose or "-", "left"),
        ("fields", lambda r: ", ".join(r.fields) or "-", "left"),
        ("authority", lambda r: r.authority.text() if r.authority is not None else "-", "left"),
    ]
    shared, shown = [], []
    for name, get, justify in cols:
        values = {get(r) for r in found}
        if len(found) > 1 and len(values) == 1 and name not in ("index", "time (UTC)", "envelope"):
            shared.append(f"{name} {values.pop()}")
        else:
            shown.append((name, get, justify))
    header = " · ".join([f"{len(found)} of {total} audit entries", *shared])
    table = Table()
    for name, _, justify in shown:
        table.add_column(name, justify=justify)
    for r in found:
        table.add_row(*(get(r) for _, get, _ in shown))
    return header, table


commands = [audit, witness]
