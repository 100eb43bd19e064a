"""`samband audit verify|export|reconcile|provision` and `samband witness`: checking the log and keeping watch."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import msgspec
from rich.table import Table

from samband.schemas.layout import RECEIPTS_STREAM

from ._cli_common import _identity, _in_order, _pinned, _public_key, _run, _when, audit, console, err
from ._errors import ObservabilityError
from .audit import (
    AuditUnavailable,
    SubsetResult,
    VerifyResult,
    export_online,
    read_export,
    read_log,
    reconcile,
    verify_export,
    verify_online,
    witness_keys,
)

__all__ = ["witness"]


def _report(result: VerifyResult | SubsetResult, as_json: bool = False) -> None:
    if as_json:
        doc = {
            "ok": result.ok,
            "entries": result.entries,
            "size": result.size,
            "checkpoints": result.checkpoints,
            "origin": result.origin,
            "key_id": result.key_id,
            "cosigned_by": sorted(result.cosigned),
            "verdict": str(result),
            "problems": [str(p) for p in result.problems],
            "notes": list(getattr(result, "notes", [])),
        }
        click.echo(msgspec.json.encode(doc).decode())
        sys.exit(0 if result.ok else 1)
    if result.ok:
        line = str(result)
        if result.cosigned:
            line += f"; cosigned by the witnesses of {', '.join(sorted(result.cosigned))}"
        console.print(f"[green]{line}[/]", highlight=False, soft_wrap=True)
        for note in getattr(result, "notes", []):
            console.print(f"  note: {note}", highlight=False, soft_wrap=True)
        return
    console.print(f"[red]{result.problems[0]}[/]", highlight=False, soft_wrap=True)
    for p in result.problems[1:10]:
        console.print(f"  also {p}", highlight=False, soft_wrap=True)
    if len(result.problems) > 10:
        console.print(f"  and {len(result.problems) - 10} more", highlight=False)
    sys.exit(1)


@audit.command("verify")
@click.option(
    "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Verify an export offline."
)
@_public_key
@click.option("--size", type=click.IntRange(min=1), help="Verify up to the first checkpoint of at least this size.")
@click.option("--witnesses", "quorum", type=click.IntRange(min=0), default=0, help="Require K agencies' cosignatures.")
@click.option(
    "--witness-key",
    "witness_key",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A witness's verifier key to trust beside the deployment's keys/witness-*.vkey (repeatable).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    envvar="SAMBAND_VERIFY_JOBS",
    show_envvar=True,
    help="Processes that hash the log online (1: this one only)  [default: one per core].",
)
@click.option("--json", "as_json", is_flag=True, help="The verdict as JSON on stdout (exit code as without it).")
@_identity
@click.pass_obj
def verify(obj, file, public_key, size, quorum, witness_key, jobs, as_json, identity) -> None:
    """Recompute the tree and check every signed checkpoint with the pinned key; exit 1 naming the first bad leaf.

    Online it verifies up to the newest checkpoint (never an entry still being written); an
    agency's auditor verifies its own entries by inclusion proofs. Offline (--file) the key is
    the deployment's or --public-key, never one found in the file.
    """
    verifier = _pinned(obj, public_key)
    try:
        witnesses = witness_keys(obj.state_dir, tuple(witness_key)) if quorum else []
    except ObservabilityError as exc:
        raise click.UsageError(str(exc)) from None
    if file:
        try:
            result = verify_export(read_export(file), verifier, witnesses=witnesses, quorum=quorum)
        except ObservabilityError as exc:
            raise click.ClickException(str(exc)) from None
        if size is not None and result.ok and result.size < size:
            raise click.ClickException(f"FAILED: truncated-tail: the export covers {result.size} entries, not {size}")
        _report(result, as_json)
        return

    async def run():
        nc = await obj.connect(identity)
        try:
            return await verify_online(
                nc, identity, obj.state_dir, verifier, size=size, witnesses=witnesses, quorum=quorum, jobs=jobs
            )
        finally:
            await nc.close()

    result = _run(run())
    if result is None:
        if as_json:
            click.echo(msgspec.json.encode({"ok": True, "entries": 0, "verdict": "OK: the log is empty"}).decode())
            return
        console.print("[green]OK: the log is empty: nothing appended yet[/]", highlight=False)
        return
    _report(result, as_json)


@audit.command("export")
@click.option("--since", callback=_when, help="Entries from this time (a window of the log, with its leaf hashes).")
@click.option("--until", callback=_when, help="Entries up to this time.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The file to write.")
@_public_key
@click.option("--json", "as_json", is_flag=True, help="What was written, as JSON on stdout.")
@_identity
@click.pass_obj
def export(obj, since, until, out: Path, public_key, as_json: bool, identity: str) -> None:
    """Write evidence for `samband audit verify --file`: entries (exact bytes), checkpoints, and their proofs.

    The oversight exports the log (or a window of it) with every leaf hash; an agency's auditor
    its own entries, each with its inclusion proof. No key is written into it."""
    _in_order(since, until)
    if not out.parent.is_dir():
        raise click.BadParameter(
            f"Expected a file in a folder that exists, got {out} (no folder {out.parent})", param_hint="'--out'"
        )
    verifier = _pinned(obj, public_key)

    async def run():
        nc = await obj.connect(identity)
        try:
            return await export_online(nc, identity, out, verifier, since=since, until=until)
        finally:
            await nc.close()

    header, check = _run(run())
    if header.scope == "agency" and not check.ok:
        raise click.ClickException(f"nothing written: the view does not verify: {check.problems[0]}")
    what = f"{header.scope} {header.agency}" if header.agency else header.scope
    if as_json:
        doc = {"entries": header.entries, "size": header.size, "scope": header.scope, "file": str(out)}
        click.echo(msgspec.json.encode(doc).decode())
        return
    console.print(
        f"wrote {header.entries} entries ({what}, tree size {header.size}) to {out}", soft_wrap=True, highlight=False
    )
    if not check.ok:
        err.print(f"[yellow]note:[/] the log read does not verify: {check.problems[0]}", highlight=False)


@audit.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="JSON for machines instead of a table.")
@_identity
@click.pass_obj
def reconcile_cmd(obj, as_json: bool, identity: str) -> None:
    """Compare the router's deliveries with the recipients' receipts; list the gaps (exit 1 if any)."""
    from nats.errors import Error as NatsError
    from nats.js.errors import Error as JsError

    from .bus import ReadError, read_range

    async def load():
        nc = await obj.connect(identity)
        try:
            log = await read_log(nc, witnesses=False)
            js = nc.jetstream()
            try:
                info = await js.stream_info(RECEIPTS_STREAM)
                got = (
                    await read_range(
                        nc, RECEIPTS_STREAM, info.state.first_seq, info.state.last_seq, with_subjects=True, strict=False
                    )
                    if info.state.messages
                    else []
                )
            except (TimeoutError, JsError, NatsError, ReadError) as exc:
                raise AuditUnavailable(
                    f"Expected to read {RECEIPTS_STREAM}, got {exc!r}; `{identity}` may lack access"
                ) from exc
            return log.entries, got
        finally:
            await nc.close()

    entries, receipts = _run(load())
    result = reconcile(entries, receipts)
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


@audit.command("provision")
@click.pass_obj
def provision_cmd(obj) -> None:
    """Create or update the audit streams and the writer's lease bucket, as the audit admin.

    Its seed is kept apart from the deployment (SAMBAND_ADMIN_DIR, default <state>/admin)."""
    dep = obj.deployment()
    _run(dep.provision_audit())
    console.print("audit streams provisioned (AUDIT, AUDIT_WITNESS, the lease bucket AUDIT_LEASE)")


@click.command("witness")
@click.argument("agency")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between two looks at the log.",
)
@click.option("--once", is_flag=True, help="Look once, cosign if there is something new, and exit.")
@_public_key
@click.pass_obj
def witness(obj, agency: str, interval: float, once: bool, public_key) -> None:
    """Watch the audit log for AGENCY: check each new checkpoint is consistent with the last one cosigned, cosign it.

    Signs with AGENCY's witness key (<state>/witness/AGENCY.key, made at setup, 0600); an
    inconsistency is an ALARM (exit 1) and nothing more is cosigned."""
    from .audit import Witness, WitnessAlarm, load_witness_key, witness_state_path

    obj.check_agency(agency, "AGENCY")
    verifier = _pinned(obj, public_key)
    try:
        key = load_witness_key(obj.state_dir, agency)
    except ObservabilityError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> int | WitnessAlarm:
        try:
            return await watch()
        except WitnessAlarm as exc:  # not an error of the command: what the witness is there to say
            return exc

    async def watch() -> int:
        import signal

        from samband.schemas.layout import witness_identity

        nc = await obj.connect(witness_identity(agency))
        w = Witness(nc, key, verifier, witness_state_path(obj.state_dir, agency))
        try:
            if once:
                cp = await w.step()
                console.print(f"cosigned size {cp.size}" if cp else "nothing new to cosign", highlight=False)
                return w.cosigned
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print(
                f"witness for {agency} running (key {key.verifier.key_id.hex()}); SIGTERM stops", highlight=False
            )
            await w.run(stop, interval)
            return w.cosigned
        finally:
            await nc.close()

    n = _run(run())
    if isinstance(n, WitnessAlarm):
        console.print(f"[red]ALARM: {n}[/]", highlight=False, soft_wrap=True)
        sys.exit(1)
    if not once:
        console.print(f"witness for {agency} stopped: {n} checkpoints cosigned", highlight=False)


reconcile_cmd.name = "reconcile"
provision_cmd.name = "provision"
