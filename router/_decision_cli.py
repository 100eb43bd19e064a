"""`samband decision`: a council's secretariat decides operations and co-options, and lists them.

Each command rebuilds the live policy the way the router does (the policy files, then REGISTRY
and DECISIONS replayed with the auditor's read-only credentials), drafts the decision from the
options (dates are Swedish calendar days), signs it with the council's private key, checks it
exactly as the router will admit it (`LivePolicy.preview`), prints what it changes in the
compiled policy and, unless ``--dry-run``, publishes it to DECISIONS with the SSO credentials.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import sys
from collections.abc import Callable
from pathlib import Path

import click
import msgspec
from nats.js.errors import APIError
from rich.console import Console

from samband.observability import configure_logging
from samband.schemas import REGIONS, encode
from samband.schemas.layout import DECISIONS_STREAM, decision_subject

from . import _drafting as draft
from ._councils import COUNCILS, PRIVATE_DIR, CouncilKeys, load_private_key, sign_decision
from ._decisions import DecisionEntry
from ._errors import CouncilKeyError, DecisionRefused, PolicyError
from ._impact import changes
from ._in_force import in_force
from ._legal_time import SWEDISH_TIME, swedish_text
from ._live import LivePolicy
from ._options import policy_dir_option
from ._policy import Policy
from ._proposal import write_decision_file

__all__ = ["decision"]

console = Console(highlight=False)
_NAT_TIMEOUT = 10.0
_STREAM_FULL = 10077  # nats-server: maximum bytes exceeded (DECISIONS reserves its room, broker_config)


def _say(text: str = "") -> None:
    console.print(text, markup=False, soft_wrap=True)


def _policy_dir(obj, policy_dir: Path | None) -> Path:
    """``--policy DIR``, else the deployment's policy directory (`samband policy`, `samband decision`)."""
    if policy_dir is not None:
        return policy_dir
    if obj is not None and hasattr(obj, "policy_dir"):
        return obj.policy_dir()
    raise click.UsageError("Expected --policy DIR")


async def _connect(obj, identity: str):
    try:
        return await obj.connect(identity)
    except click.ClickException:
        raise
    except Exception as exc:  # the broker package's own error, which this package does not import
        raise click.ClickException(str(exc)) from None


async def _live(obj, policy_dir: Path | None) -> LivePolicy:
    """The policy as the router holds it now, rebuilt from the files and the streams (read-only)."""
    try:
        live = LivePolicy(_policy_dir(obj, policy_dir), councils=CouncilKeys.of_state(obj.state_dir))
    except (PolicyError, CouncilKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    nc = await _connect(obj, "auditor")
    try:
        await live.start(nc, asyncio.Event(), timeout=_NAT_TIMEOUT, watch=False)
    except ConnectionError as exc:
        raise click.ClickException(f"Expected the councils' decisions from the broker, got {exc}") from None
    finally:
        await live.close()
        await nc.close()
    return live


_COMMON = [
    click.option("--council", required=True, type=click.Choice(list(COUNCILS)), help="The deciding council."),
    click.option(
        "--key-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar="SAMBAND_COUNCIL_KEYS",
        help="Where the council's private key is (default <state>/councils; env SAMBAND_COUNCIL_KEYS).",
    ),
    policy_dir_option("The router's policy directory (default: the shipped one)."),
    click.option("--dry-run", is_flag=True, help="Print what the decision changes; publish nothing."),
    click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON."),
    click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the signed decision here."),
]


def _common(fn: Callable) -> Callable:
    for option in reversed(_COMMON):
        fn = option(fn)
    return click.pass_obj(fn)


def _run(obj, council: str, key_dir: Path | None, policy_dir, dry_run: bool, as_json: bool, make, out=None) -> None:
    """Draft with ``make(data)``, sign, check as the router will, show the impact, publish."""
    configure_logging(level="critical")  # what matters is printed; the replay's log lines are not
    try:
        key = load_private_key(key_dir or obj.state_dir / PRIVATE_DIR, council)
    except CouncilKeyError as exc:
        raise click.ClickException(str(exc)) from None
    asyncio.run(_decide(obj, council, key, policy_dir, dry_run, as_json, make, out))


async def _decide(obj, council, key, policy_dir, dry_run: bool, as_json: bool, make, out: Path | None) -> None:
    live = await _live(obj, policy_dir)
    try:
        record = make(live.current.data)
    except draft.DraftError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from None
    env = draft.envelope_for(record, council, _dt.datetime.now(_dt.UTC))
    body = encode(env)
    headers = sign_decision(key, council, body)
    try:
        proposal = live.preview(body, headers)
    except DecisionRefused as exc:
        raise click.ClickException(f"the router would refuse this decision: {exc}") from None
    impact = changes(live.current, Policy(proposal.data))
    entry = proposal.entry
    if out is not None:  # for `samband policy impact FILE`, and to publish exactly what was looked at
        write_decision_file(out, body, headers)
    seq = None
    if not dry_run:
        seq = await _publish(obj, entry.kind, entry.target, body, {**headers, "Nats-Msg-Id": env.id})
    if as_json:
        shown = {
            "decision": {**msgspec.to_builtins(entry), "seq": seq},
            "record": msgspec.to_builtins(record),
            "impact": impact.to_builtins(),
            "published": seq is not None,
        }
        sys.stdout.write(msgspec.json.encode(shown).decode() + "\n")
        return
    _say(f"decision of {entry.decided_by}, signed by {council}: {entry.action} {entry.kind} {entry.target}")
    for line in impact.lines():
        _say(line)
    if seq is None:
        _say("dry run: nothing published")
    else:
        _say(f"published as {DECISIONS_STREAM}#{seq} (decision {env.id}); the router applies it at once")


async def _publish(obj, kind, target, body: bytes, headers: dict[str, str]) -> int:
    nc = await _connect(obj, "sso")
    try:
        ack = await nc.jetstream().publish(decision_subject(kind, target), body, headers=headers, timeout=_NAT_TIMEOUT)
    except Exception as exc:  # nats-py's errors: one line, not a traceback
        if isinstance(exc, APIError) and exc.err_code == _STREAM_FULL:
            raise click.ClickException(
                f"the decision was not published: the {DECISIONS_STREAM} stream is full, and it refuses new "
                "messages rather than drop any (an audit entry cites each); `samband decision list` shows what "
                "filled it"
            ) from None
        raise click.ClickException(f"the decision was not published: {exc!r}") from None
    finally:
        await nc.close()
    return ack.seq


@click.group("decision")
def decision() -> None:
    """Decide operations and co-options for a council, signed with its key; list what is in force."""


@decision.command("create")
@click.argument("operation")
@click.option("--name", default=None, help="The operation's name.")
@click.option("--participant", "participants", multiple=True, help="AGENCY or AGENCY=PURPOSE (repeat).")
@click.option("--record-type", "record_types", multiple=True, help="A record type the operation covers (repeat).")
@click.option("--legal-basis", default=None, help="Default: LUS 2016:774.")
@click.option(
    "--from", "valid_from", default=None, help="First day in force, YYYY-MM-DD (Swedish time; default today)."
)
@click.option("--to", "valid_to", default=None, help="Last day in force, inclusive (default: until further notice).")
@_common
def create_cmd(obj, operation, name, participants, record_types, legal_basis, valid_from, valid_to, **common) -> None:
    """Create a joint operation in the council's region (Operativa rådet: a national one)."""
    _operation(
        obj,
        common,
        operation,
        "create",
        valid_from,
        valid_to,
        name=name,
        participants=participants,
        record_types=record_types,
        legal_basis=legal_basis,
    )


@decision.command("amend")
@click.argument("operation")
@click.option("--name", default=None)
@click.option("--participant", "participants", multiple=True, help="Add AGENCY or AGENCY=PURPOSE (repeat).")
@click.option("--remove-participant", "drop_participants", multiple=True, help="Remove an agency (repeat).")
@click.option("--record-type", "record_types", multiple=True, help="Add a record type (repeat).")
@click.option("--remove-record-type", "drop_record_types", multiple=True, help="Remove a record type (repeat).")
@click.option("--legal-basis", default=None)
@click.option("--from", "valid_from", default=None, help="New first day, YYYY-MM-DD (Swedish time).")
@click.option("--to", "valid_to", default=None, help="New last day, inclusive.")
@click.option("--until-further-notice", "open_ended", is_flag=True, help="Remove the last day.")
@_common
def amend_cmd(obj, operation, name, participants, drop_participants, record_types, drop_record_types, legal_basis,
              valid_from, valid_to, open_ended, **common) -> None:  # fmt: skip
    """Change an operation of the council's: participants, record types, period, basis."""
    _operation(
        obj,
        common,
        operation,
        "amend",
        valid_from,
        valid_to,
        name=name,
        participants=participants,
        drop_participants=drop_participants,
        record_types=record_types,
        drop_record_types=drop_record_types,
        legal_basis=legal_basis,
        open_ended=open_ended,
    )


@decision.command("close")
@click.argument("operation")
@_common
def close_cmd(obj, operation, **common) -> None:
    """Close an operation of the council's: nothing more is routed in it."""
    _operation(obj, common, operation, "close", None, None)


def _operation(
    obj, common, operation: str, action: str, valid_from: str | None, valid_to: str | None, **changes
) -> None:
    """One operation decision, from the command line's days (checked before the policy is read)."""
    start, end = _days(valid_from, valid_to)
    _run(
        obj,
        **common,
        make=lambda data: draft.operation(
            data, operation, common["council"], action=action, valid_from=start, valid_to=end, **changes
        ),
    )


@decision.command("grant")
@click.argument("grant_id", metavar="GRANT")
@click.option("--agency", required=True, help="The co-opted agency.")
@click.option("--operation", "op_id", required=True, help="The operation it is co-opted to.")
@click.option("--record-type", "record_types", multiple=True, required=True, help="A record type (repeat).")
@click.option("--field", "fields", multiple=True, required=True, help="A field it may see (repeat, or a,b,c).")
@click.option("--from", "valid_from", required=True, help="YYYY-MM-DD (from Swedish midnight) or a time.")
@click.option(
    "--to", "valid_to", required=True, help="YYYY-MM-DD, inclusive (to the Swedish midnight after it), or a time."
)
@click.option("--reason", required=True, help="The council's reason, recorded with the grant.")
@click.option("--legal-basis", required=True, help="The provision the disclosure rests on (legal_bases.toml).")
@click.option(
    "--region",
    "regions",
    multiple=True,
    type=click.Choice(REGIONS),
    help="Reach outside the agency's declared regions.",
)
@_common
def grant_cmd(obj, grant_id, agency, op_id, record_types, fields, valid_from, valid_to, reason, legal_basis, regions,
              **common) -> None:  # fmt: skip
    """Co-opt an agency into an operation of the council's, for listed record types and fields, for a period."""
    start = _instant(valid_from, "--from")
    end = _instant(valid_to, "--to", end_of_day=True)
    _run(
        obj,
        **common,
        make=lambda data: draft.grant(
            data,
            grant_id,
            common["council"],
            agency=agency,
            op_id=op_id,
            record_types=record_types,
            fields=fields,
            valid_from=start,
            valid_to=end,
            reason=reason,
            legal_basis=legal_basis,
            regions=regions,
        ),
    )


@decision.command("revoke")
@click.argument("grant_id", metavar="GRANT")
@click.option("--reason", default=None, help="Why (default: the grant's own reason).")
@_common
def revoke_cmd(obj, grant_id, reason, **common) -> None:
    """Revoke a co-option grant: the agency receives nothing more under it."""
    _run(obj, **common, make=lambda data: draft.revoke(data, grant_id, common["council"], reason=reason))


def _days(valid_from: str | None, valid_to: str | None) -> tuple[_dt.date | None, _dt.date | None]:
    try:
        start = draft.parse_day(valid_from, "--from") if valid_from else None
        end = draft.parse_day(valid_to, "--to") if valid_to else None
    except draft.DraftError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from None
    if start and end and end < start:
        raise click.BadParameter(f"Expected a day on or after --from ({start}), got `{end}`", param_hint="--to")
    return start, end


def _instant(value: str, option: str, *, end_of_day: bool = False) -> _dt.datetime:
    try:
        return draft.parse_instant(value, option, end_of_day=end_of_day)
    except draft.DraftError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from None


# ---- list ---------------------------------------------------------------------------------------
@decision.command("list")
@policy_dir_option("The router's policy directory (default: the shipped one).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def list_cmd(obj, policy_dir: Path | None, as_json: bool) -> None:
    """The operations and grants in force (and which decision or file set each), then every decision
    message of the DECISIONS stream, admitted or refused, with the reason."""
    configure_logging(level="critical")
    live = asyncio.run(_live(obj, policy_dir))
    now = _dt.datetime.now(_dt.UTC)
    rows = in_force(live, now)
    if as_json:
        out = {"policy_version": live.version, "in_force": rows, "history": msgspec.to_builtins(live.history)}
        sys.stdout.write(msgspec.json.encode(out).decode() + "\n")
        return
    _say(f"policy {live.version} at {swedish_text(now)}")
    _say("in force:")
    for r in rows:
        _say(f"  {r['kind']} {r['id']}: {r['state']}; {r['summary']}; set by {r['authority']}")
    held = sum(not e.accepted for e in live.history)
    dropped = live.ledger.refused - held  # past the ledger's bound: a flood of refusals
    more = f"; {dropped} older refused message(s) not listed" if dropped else ""
    _say(f"history ({DECISIONS_STREAM} stream, {len(live.history)} message(s){more}):")
    for e in live.history:
        _say("  " + _history_line(e))


def _history_line(e: DecisionEntry) -> str:
    when = e.stored_at.astimezone(SWEDISH_TIME).isoformat(timespec="seconds") if e.stored_at else "-"
    what = f"{e.action} {e.kind} {e.target}" if e.target else "(unreadable)"
    verdict = "admitted" if e.accepted else "REFUSED"
    return f"{e.ref} {when} {e.council or '-'}: {what}: {verdict}: {e.reason}"
