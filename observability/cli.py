"""`samband audit query|verify|export|reconcile`: what security chiefs type."""

from __future__ import annotations

import asyncio
import datetime as _dt
import sys
from collections.abc import Callable
from pathlib import Path

import click
import msgspec
from rich.console import JustifyMethod
from rich.table import Table

from samband.schemas import REGIONS, InvalidIdentifier, normalise_personnummer, unknown_name
from samband.schemas.layout import RECEIPTS_STREAM

from ._errors import ObservabilityError
from ._logging import output_console
from ._pseudonym import Pseudonymiser
from .audit import (
    AUDIT_DECODER,
    INDEX_FILE,
    PUBLIC_KEY_FILE,
    AuditIndex,
    AuditRecord,
    AuditUnavailable,
    IndexStore,
    Trail,
    TrailProblem,
    indexed_query,
    key_id,
    load_public_key,
    read_export,
    read_stream,
    read_trail,
    reconcile,
    slice_trail,
    verify_bytes,
    write_export,
)

__all__ = ["audit", "commands", "query_broker"]

console = output_console()
err = output_console(stderr=True)

_identity = click.option(
    "--as",
    "identity",
    default="auditor",
    show_default=True,
    help="Whose credentials read the trail (the auditor's by default).",
)


def _when(_ctx, param, value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"Expected an ISO 8601 date or time like 2017-03-01 or 2017-03-01T12:00Z, got {value!r}"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def _in_order(since: _dt.datetime | None, until: _dt.datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise click.BadParameter(
            f"Expected --since before --until, got --since {since.isoformat()} after --until {until.isoformat()}",
            param_hint="'--since'",
        )


def _run(coro):
    try:
        return asyncio.run(coro)
    except TrailProblem:
        raise
    except ObservabilityError as exc:
        raise click.ClickException(str(exc)) from exc


async def _load(obj, identity: str, *, receipts: bool = False) -> tuple[Trail, list]:
    nc = await obj.connect(identity)
    try:
        pem_path = obj.state_dir / "keys" / PUBLIC_KEY_FILE
        trail = await read_trail(nc, public_key_pem=pem_path.read_bytes() if pem_path.exists() else None)
        got = []
        if receipts:
            try:
                got = await read_stream(nc, RECEIPTS_STREAM, with_subjects=True)
            except AuditUnavailable as exc:
                raise AuditUnavailable(f"{exc}; `{identity}` may lack read access to RECEIPTS") from exc
        return trail, got
    finally:
        await nc.close()


@click.group("audit")
def audit() -> None:
    """Who received what about whom, when, and under which basis: query, verify, export, reconcile."""


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
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Query an export instead of the broker.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="The matching records' stored bytes as a JSON array, for machines."
)
@click.option("--reindex", is_flag=True, help="Throw the local index away and build it again from the whole trail.")
@click.option(
    "--from-stream",
    is_flag=True,
    help="Fetch each hit from the AUDIT stream by sequence (checked against the "
    "index) instead of showing the copy taken when it was indexed; slower on a large trail.",
)
@_identity
@click.pass_obj
def query(
    obj,
    person,
    origin,
    recipient,
    operation,
    region,
    decision,
    since,
    until,
    file,
    as_json,
    reindex,
    from_stream,
    identity,
) -> None:
    """List the audit records matching every filter given.

    From the broker, through the index kept in the state directory (audit-index.sqlite3): only
    records appended since the last query are read and checked onto what was indexed. If the
    trail no longer holds what was indexed, it says what and where, and gives no answer (exit 1).
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
        subject=subject,
        origin=origin,
        recipient=recipient,
        operation=operation,
        region=region,
        decision=decision,
        since=since,
        until=until,
    )
    if file:
        index = AuditIndex(read_export(file).records)
        stored, total = [index.records[i] for i in index.positions(**filters)], len(index)
    else:
        try:
            stored, total = _run(
                query_broker(obj, identity, filters, reindex=reindex, from_stream=from_stream, progress=_progress)
            )
        except TrailProblem as exc:
            console.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
            err.print(
                "No answer: the trail no longer holds what was indexed, so an answer could be incomplete. "
                "`samband audit verify` checks the whole trail; `--reindex` builds the index again from the "
                "trail as it is now.",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(1)
    if as_json:
        sys.stdout.buffer.write(b"[" + b",".join(stored) + b"]\n")  # the stored bytes, not re-encoded
        return
    found = [AUDIT_DECODER.decode(d) for d in stored]
    header, table = _table(found, total)
    console.print(header, soft_wrap=True, highlight=False)
    if found:
        console.print(table)


def _progress(done: int, last: int) -> None:
    err.print(f"indexing the audit trail: seq {done:,} of {last:,}", highlight=False)


async def query_broker(
    obj, identity: str, filters: dict, *, reindex: bool = False, from_stream: bool = False, progress=None
) -> tuple[list[bytes], int]:
    """What `samband audit query` does against the broker: (stored bytes of the hits, records indexed)."""
    path = obj.state_dir / INDEX_FILE
    if reindex:
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
    pem = obj.state_dir / "keys" / PUBLIC_KEY_FILE
    public_key = load_public_key(pem) if pem.exists() else None
    nc = await obj.connect(identity)
    try:
        with IndexStore(path) as store:
            stored = await indexed_query(nc, store, public_key, progress=progress, from_stream=from_stream, **filters)
            return stored, store.last_seq
    finally:
        await nc.close()


def _table(found: list[AuditRecord], total: int) -> tuple[str, Table]:
    # Columns whose value is the same on every row go to the title: the table stays readable
    # in an 80-column terminal for the usual query (one operation, one region).
    cols: list[tuple[str, Callable[[AuditRecord], str], JustifyMethod]] = [
        ("seq", lambda r: str(r.seq), "right"),
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
    ]
    shared, shown = [], []
    for name, get, justify in cols:
        values = {get(r) for r in found}
        if len(found) > 1 and len(values) == 1 and name not in ("seq", "time (UTC)", "envelope"):
            shared.append(f"{name} {values.pop()}")
        else:
            shown.append((name, get, justify))
    header = " · ".join([f"{len(found)} of {total} audit records", *shared])
    table = Table()
    for name, _, justify in shown:
        table.add_column(name, justify=justify)
    for r in found:
        table.add_row(*(get(r) for _, get, _ in shown))
    return header, table


@audit.command("verify")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an export offline instead of the broker's trail.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The checkpoint public key to trust (PEM); default: the deployment's, or the export's own.",
)
@click.option("--json", "as_json", is_flag=True, help="The verdict as JSON on stdout (exit code as without it).")
@_identity
@click.pass_obj
def verify(obj, file: Path | None, public_key: Path | None, as_json: bool, identity: str) -> None:
    """Check the hash chain and every checkpoint signature; exit 1 naming the first bad sequence."""
    if file:
        trail = read_export(file)
    else:
        trail = _run(_load(obj, identity))[0]
    try:
        key = load_public_key(public_key) if public_key else trail.public_key()
    except ObservabilityError as exc:
        raise click.ClickException(str(exc)) from exc
    result = verify_bytes(trail.records, trail.checkpoints, key, anchor=None if file else "0" * 64)
    if as_json:
        doc = {
            "ok": result.ok,
            "records": len(trail.records),
            "checkpoints": len(trail.checkpoints),
            "key_id": key_id(key) if key else None,
            "verdict": str(result),
        }
        click.echo(msgspec.json.encode(doc).decode())
        sys.exit(0 if result.ok else 1)
    if result.ok:
        signer = f"; checkpoints signed by key {key_id(key)}" if key else ""
        console.print(f"[green]{result}[/]{signer}", highlight=False, soft_wrap=True)
        return
    console.print(f"[red]{result}[/]", highlight=False, soft_wrap=True)
    sys.exit(1)


@audit.command("export")
@click.option("--since", callback=_when, help="Records from this time (widened to the checkpoint before it).")
@click.option("--until", callback=_when, help="Records up to this time (widened to the checkpoint after it).")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The export file to write."
)
@click.option("--json", "as_json", is_flag=True, help="What was written, as JSON on stdout.")
@_identity
@click.pass_obj
def export(obj, since, until, out: Path, as_json: bool, identity: str) -> None:
    """Write records (exact bytes), checkpoints and the public key, for `samband audit verify --file`."""
    _in_order(since, until)
    if not out.parent.is_dir():
        raise click.BadParameter(
            f"Expected a file in a folder that exists, got {out} (no folder {out.parent})", param_hint="'--out'"
        )
    trail = _run(_load(obj, identity))[0]
    if trail.public_key_pem is None:
        raise click.ClickException(
            f"Expected the checkpoint public key at {obj.state_dir / 'keys' / PUBLIC_KEY_FILE}, it is missing"
        )
    part = slice_trail(trail, since, until)
    try:
        n = write_export(out, part)
    except ObservabilityError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(msgspec.json.encode({"records": n, "checkpoints": len(part.checkpoints), "file": str(out)}).decode())
        return
    console.print(f"wrote {n} records and {len(part.checkpoints)} checkpoints to {out}", soft_wrap=True)


@audit.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="JSON for machines instead of a table.")
@_identity
@click.pass_obj
def reconcile_cmd(obj, as_json: bool, identity: str) -> None:
    """Compare the router's deliveries with the recipients' receipts; list the gaps (exit 1 if any)."""
    trail, receipts = _run(_load(obj, identity, receipts=True))
    result = reconcile(trail.records, receipts)
    if as_json:
        sys.stdout.buffer.write(
            msgspec.json.encode(
                {
                    "delivered": result.delivered,
                    "receipts": result.receipts,
                    "confirmed": result.confirmed,
                    "gaps": [g.__dict__ for g in result.gaps],
                }
            )
            + b"\n"
        )
    else:
        console.print(
            f"{result.delivered} deliveries, {result.receipts} receipts, {result.confirmed} confirmed, "
            f"{len(result.gaps)} gaps"
        )
        if result.gaps:
            table = Table(title="gaps", title_justify="left")
            for col in ("recipient", "envelope", "kind", "detail"):
                table.add_column(col)
            for g in result.gaps:
                table.add_row(g.recipient, g.envelope_id, g.kind, g.detail)
            console.print(table)
    if result.gaps:
        sys.exit(1)


@audit.command("checkpoint")
@click.option(
    "--every", type=click.IntRange(min=1), default=1000, show_default=True, help="Sign after this many new records."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="...or after this many seconds.",
)
@click.pass_obj
def checkpoint_cmd(obj, every: int, interval: float) -> None:
    """Run the checkpointer on its own (beside `samband router run`) until SIGTERM/SIGINT.

    `samband up` runs one already. It signs with <state>/keys/audit-signing.key, made (0600) on first use.
    """
    _run(_checkpoint(obj, every, interval))


async def _checkpoint(obj, every: int, interval: float) -> None:
    import signal

    from .audit import Checkpointer, load_or_create_signing_key

    key = load_or_create_signing_key(obj.state_dir / "keys")
    nc = await obj.connect("router")  # checkpoints are written in the router's account
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cp = Checkpointer(nc, key, every=every, interval=interval)
    err.print(
        f"checkpointer running (every {every} records or {interval:g} s, key {key_id(key.public_key())}); "
        "SIGTERM stops",
        highlight=False,
    )
    try:
        await cp.run(stop)
    finally:
        await nc.close()
    err.print(
        f"checkpointer stopped: chain read to seq {cp.seq}, {cp.signed} checkpoints signed"
        + (f"; CHAIN BROKEN: {cp.broken}" if cp.broken else ""),
        highlight=False,
    )


reconcile_cmd.name = "reconcile"
checkpoint_cmd.name = "checkpoint"
commands = [audit]
