"""`samband policy explain|test`, `samband router run` and `samband decision ...` (in `_decision_cli`)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import signal
import sys
from pathlib import Path

import click
import msgspec
import nats

from samband.observability import MetricsError, metrics_port_option, output_console
from samband.schemas import unknown_name

from ._decision_cli import _policy_dir, decision
from ._errors import PolicyError
from ._impact_cli import impact_cmd
from ._options import policy_dir_option
from ._review_cli import review

console = output_console()
_JSON = click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout (exit code as without it).")

_POLICY_OPTION = policy_dir_option("Policy directory (default: the shipped demo policy, Operation Bacchus).")


def _load(obj, policy_dir: Path | None):
    from ._policy import Policy

    try:
        return Policy.load(_policy_dir(obj, policy_dir))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("policy")
def policy() -> None:
    """Explain and test the routing policy."""


@policy.command("explain")
@click.option(
    "--record",
    "record_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An envelope as JSON (as published or as delivered; a JSON-lines file: its first line).",
)
@click.option(
    "--native",
    nargs=2,
    type=(str, str),
    default=None,
    metavar="AGENCY FILE[:LINE]",
    help="A record of AGENCY's native export instead (its LINE, or the first record), "
    "mapped through AGENCY's adapter mapping first.",
)
@click.option("--to", "recipient", required=True, help="The recipient agency's slug.")
@click.option(
    "--at", "at", default=None, help="ISO 8601 time of the decision (default: now); UTC when no offset is given."
)
@click.option("--origin", default=None, help="The sending agency, when the envelope does not name it.")
@_POLICY_OPTION
@_JSON
@click.pass_obj
def explain_cmd(
    obj,
    record_file: Path | None,
    native: tuple[str, str] | None,
    recipient: str,
    at: str | None,
    origin: str | None,
    policy_dir: Path | None,
    as_json: bool,
) -> None:
    """Print the decision for one record and one recipient, and the chain of rules that led to it.

    Explain only reads the policy: it sends nothing and writes nothing to the audit trail (the
    router audits every decision it makes, allow and deny).
    """
    from ._explain import explain

    if (record_file is None) == (native is None):
        raise click.UsageError(
            "Expected one of --record ENVELOPE or --native AGENCY FILE[:LINE], got "
            + ("both" if record_file else "neither")
        )
    pol = _load(obj, policy_dir)
    known = set(pol.data.agencies)
    if recipient not in known:
        raise click.BadParameter(unknown_name("an agency the policy knows", recipient, known), param_hint="'--to'")
    if origin is not None and origin not in known:
        raise click.BadParameter(unknown_name("an agency the policy knows", origin, known), param_hint="'--origin'")
    env = _native_envelope(obj, native, known) if native is not None else _envelope_file(record_file)  # type: ignore[arg-type]
    if origin:
        env = msgspec.structs.replace(env, origin=origin)
    if env.origin is None:
        name = record_file.name if record_file is not None else native[1]  # type: ignore[index]
        raise click.ClickException(f"{name}: the envelope names no origin; give the sender with --origin AGENCY")
    when = _parse_time(at)
    ex = explain(pol, env, recipient, when)
    if as_json:
        d = ex.decision
        doc = {
            "decision": "allow" if d.allow else "deny",
            **msgspec.to_builtins(d),
            "recipient": recipient,
            "origin": env.origin,
            "envelope": env.id,
            "record_type": ex.record_type,
            "at": when.isoformat(),
            "steps": [{"ok": st.ok, "text": st.text} for st in ex.steps],
        }
        click.echo(msgspec.json.encode(doc).decode())
        return
    for line in ex.lines()[:-1]:
        console.print(line, highlight=False)
    colour = "green" if ex.decision.allow else "red"
    console.print(f"[bold {colour}]{ex.lines()[-1]}[/]", highlight=False)
    console.print(f"[dim]{EXPLAIN_WRITES_NOTHING}[/]", highlight=False)


EXPLAIN_WRITES_NOTHING = (
    "(This explanation only read the policy: nothing was sent and nothing was written to the audit trail. "
    "The router writes an audit record for every decision it makes, allow or deny.)"
)


def _envelope_file(record_file: Path):
    from samband.schemas import ENVELOPE, DecodeError

    data = record_file.read_bytes().lstrip()
    first = data.split(b"\n", 1)[0] if not data.startswith(b"{\n") else data
    try:
        return ENVELOPE.decode(first)
    except DecodeError as exc:
        hint = ""
        if exc.path in (None, "$") or "Object missing required field" in str(exc):
            hint = "; an agency's native export is explained with --native AGENCY FILE[:LINE]"
        raise click.ClickException(f"{record_file.name}: {exc}{hint}") from None


def _native_envelope(obj, native: tuple[str, str], known: set[str]):
    agency, where = native
    if agency not in known:
        raise click.BadParameter(unknown_name("an agency the policy knows", agency, known), param_hint="'--native'")
    path_text, _, line_text = where.rpartition(":") if where.rpartition(":")[2].isdigit() else (where, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise click.BadParameter(
            f"Expected a native export file, got {path_text!r} (no such file)", param_hint="'--native'"
        )
    if obj is None or not hasattr(obj, "native_envelope"):
        raise click.UsageError("--native needs the samband command line (it maps through the agency's adapter)")
    env = obj.native_envelope(agency, path, int(line_text) if line_text else None)
    if isinstance(env, Exception):
        raise click.ClickException(f"{agency}'s adapter makes no envelope of it: {env}")
    return env


def _parse_time(at: str | None) -> _dt.datetime:
    if at is None:
        return _dt.datetime.now(_dt.UTC)
    try:
        when = _dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"Expected an ISO 8601 time like 2017-03-03T20:00:00+01:00, got {at!r}", param_hint="--at"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=_dt.UTC)


@policy.command("test")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_POLICY_OPTION
@_JSON
@click.pass_obj
def test_cmd(obj, files: tuple[Path, ...], policy_dir: Path | None, as_json: bool) -> None:
    """Run policy test files (record, recipient, time -> expected decision); exit 1 on any failure.

    Without FILES, runs the policy directory's own tests (its tests/*.toml)."""
    from ._testfile import run_test_files

    pol = _load(obj, policy_dir)
    if not files:
        files = tuple(sorted((_policy_dir(obj, policy_dir) / "tests").glob("*.toml")))
        if not files:
            raise click.UsageError("Expected policy test FILES (the policy directory has no tests/*.toml)")
    report = run_test_files(pol, list(files))
    if as_json:
        doc = {
            "ok": report.ok,
            "policy_version": pol.version,
            "passed": len(report.results) - len(report.failed),
            "failed": len(report.failed),
            "errors": report.errors,
            "cases": [{"id": r.nodeid, "passed": r.passed, "failures": r.failures} for r in report.results],
            "seconds": round(report.seconds, 3),
        }
        click.echo(msgspec.json.encode(doc).decode())
        sys.exit(0 if report.ok else 1)
    console.print(
        f"[bold]policy test[/]: policy version {pol.version}, {len(report.results)} cases in {len(files)} file(s)",
        highlight=False,
    )
    for r in report.results:
        status = "[green]PASSED[/]" if r.passed else "[red]FAILED[/]"
        console.print(f"{r.nodeid} {status}", highlight=False)
    for err in report.errors:
        console.print(f"[red]ERROR[/] {err}", highlight=False)
    if report.failed:
        console.print("=" * 30 + " FAILURES " + "=" * 30)
        for r in report.failed:
            console.print(f"[bold red]____ {r.case.name} ____[/]", highlight=False)
            console.print(f"record {r.case.record} to {r.case.to} at {r.case.at.isoformat()}", highlight=False)
            for f in r.failures:
                console.print(f"E   {f}", highlight=False, markup=False)  # a field list reads like markup
    passed = len(report.results) - len(report.failed)
    parts = [f"{len(report.failed)} failed"] if report.failed else []
    parts.append(f"{passed} passed")
    if report.errors:
        parts.append(f"{len(report.errors)} error{'s' if len(report.errors) > 1 else ''}")
    colour = "green" if report.ok else "red"
    console.print(f"[{colour}]{'=' * 20} {', '.join(parts)} in {report.seconds:.2f}s {'=' * 20}[/]", highlight=False)
    sys.exit(0 if report.ok else 1)


policy.add_command(impact_cmd)


@click.group("router")
def router() -> None:
    """Run the routing service."""


@router.command("run")
@_POLICY_OPTION
@click.option(
    "--batch", type=click.IntRange(1, 10_000), default=256, show_default=True, help="Records fetched per batch."
)
@metrics_port_option
@click.pass_obj
def run_cmd(obj, policy_dir: Path | None, batch: int, metrics_port: int | None) -> None:
    """Run the router against this deployment until SIGTERM/SIGINT; SIGHUP re-reads the policy files."""
    from samband.observability import configure_tracing, serve_metrics

    policy_dir = _policy_dir(obj, policy_dir)
    try:
        endpoint = serve_metrics(metrics_port, "samband-router")  # a taken port refuses before anything starts
    except MetricsError as exc:
        raise click.ClickException(str(exc)) from None
    configure_tracing("samband-router")
    try:
        asyncio.run(_run(obj, policy_dir, batch, endpoint.meter("samband.router") if endpoint else None))
    finally:
        if endpoint is not None:
            endpoint.stop()


async def _run(obj, policy_dir: Path, batch: int, meter=None) -> None:
    from samband.observability import Pseudonymiser, load_or_create_key, settle_heap
    from samband.observability.audit import Appender, load_or_create_signing_key

    from ._councils import CouncilKeys
    from ._errors import CouncilKeyError
    from ._live import LivePolicy
    from ._review import review_rules
    from ._service import Router

    try:
        councils = CouncilKeys.of_state(obj.state_dir)
        live = LivePolicy(policy_dir, councils=councils)
    except (PolicyError, CouncilKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    if not councils.keys:
        click.echo(f"warning: no council keys trusted ({councils.source}): every decision will be refused", err=True)
    nc = await obj.connect("router")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, live.reload)
    key = load_or_create_key(obj.state_dir / "keys" / "pseudonym.key")

    def standing_by(holder: str) -> None:
        console.print(
            f"standby: the audit lease is held by {holder}; this router takes over when it lapses", highlight=False
        )

    appender = Appender(nc, key=load_or_create_signing_key(obj.state_dir / "keys"), on_standby=standing_by)
    # what each agency file lets it send (the centres are never announced on REGISTRY)
    agencies = obj.deployment().agencies
    senders = {slug: a.sends for slug, a in agencies.items()}
    review = review_rules(agencies)  # what each originator's officer reviews before disclosure
    r = Router(
        nc, live, Pseudonymiser(key), batch=batch, appender=appender, senders=senders, meter=meter, review=review
    )
    task = asyncio.create_task(r.run(stop), name="router")
    ready = asyncio.create_task(r.ready.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if r.ready.is_set():
        settle_heap()
        console.print(
            f"router running, policy {live.version}; SIGTERM stops, SIGHUP reloads the policy files", highlight=False
        )
    elif not task.done():
        task.cancel()  # stopped while standing by: it only waited for the lease
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        stopped.cancel()
        try:
            await nc.close()  # the router acked what it handled; drain would wait on the idle pull subscription
        except (OSError, nats.errors.Error):
            pass  # the broker went first (e.g. the `samband up` beside it stopped): nothing left to close
    s = r.stats
    console.print(
        f"router stopped cleanly: {s.records} records, {s.decisions} decisions ({s.allowed} allow, {s.denied} deny), "
        f"policy {live.version}",
        highlight=False,
    )


commands = [policy, router, decision, review]
