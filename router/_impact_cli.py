"""`samband policy impact PROPOSAL`: what a decision or a changed policy directory would have
disclosed over a window of the audit trail (default the last 30 days), per recipient, record type
and field, decided again from the audit entries alone (`_replay.replay`)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import sys
from pathlib import Path

import click
import msgspec

from samband.observability import ObservabilityError, configure_logging, iso_time_callback
from samband.observability.audit import ENTRY_DECODER, AuditRecord, TrailProblem, pinned_verifier, query_online
from samband.schemas.layout import OVERSIGHT

from ._decision_cli import _connect, _live, _say
from ._errors import DecisionRefused, PolicyError
from ._live import LivePolicy
from ._options import policy_dir_option
from ._policy import Policy
from ._proposal import read_decision_file
from ._replay import replay

__all__ = ["impact_cmd"]

WINDOW_DAYS = 30


@click.command("impact")
@click.argument("proposal", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--since",
    callback=iso_time_callback,
    help=f"Window start (ISO 8601, UTC if no zone; default {WINDOW_DAYS} days ago).",
)
@click.option("--until", callback=iso_time_callback, help="Window end (default now).")
@policy_dir_option("The router's policy directory (default: the deployment's).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.pass_obj
def impact_cmd(obj, proposal: Path, since, until, policy_dir: Path | None, as_json: bool) -> None:
    """Replay the audited decisions of a window under the current policy and under PROPOSAL (a decision
    file from `samband decision ... --dry-run --out FILE`, or a policy directory) and report the
    disclosures added, removed, widened or narrowed."""
    until = until or _dt.datetime.now(_dt.UTC)
    since = since or until - _dt.timedelta(days=WINDOW_DAYS)
    if since > until:
        raise click.BadParameter(
            f"Expected --since before --until, got --since {since.isoformat()} after --until {until.isoformat()}",
            param_hint="'--since'",
        )
    configure_logging(level="critical")  # the replays' log lines are not the answer
    report = asyncio.run(_impact(obj, proposal, since, until, policy_dir))
    if as_json:
        sys.stdout.write(msgspec.json.encode(report.to_builtins(since, until)).decode() + "\n")
        return
    for line in report.lines(since, until):
        _say(line)


async def _impact(obj, proposal: Path, since, until, policy_dir: Path | None):
    live = await _live(obj, policy_dir)
    proposed = await _proposed(obj, live, proposal)
    entries = await _window(obj, since, until)
    return replay(entries, live.current, proposed)


async def _proposed(obj, live: LivePolicy, proposal: Path) -> Policy:
    if proposal.is_dir():  # the same decisions and registrations over the proposed files
        try:
            return (await _live(obj, proposal)).current
        except click.ClickException as exc:
            raise click.ClickException(f"the proposed policy is refused: {exc.message}") from None
    try:
        body, headers = read_decision_file(proposal)
        found = live.preview(body, headers)
    except (PolicyError, DecisionRefused) as exc:
        raise click.ClickException(f"{proposal}: the router would refuse this decision: {exc}") from None
    return Policy(found.data)


async def _window(obj, since: _dt.datetime, until: _dt.datetime) -> list[AuditRecord]:
    """The window's entries, read through the oversight's query index (only what is new is fetched)."""
    try:
        verifier = pinned_verifier(obj.state_dir, None)
    except ObservabilityError as exc:
        raise click.ClickException(str(exc)) from None
    nc = await _connect(obj, OVERSIGHT)
    try:
        stored, _ = await query_online(nc, obj.state_dir, OVERSIGHT, verifier, {"since": since, "until": until})
    except TrailProblem as exc:
        raise click.ClickException(f"no answer: {exc}") from None
    finally:
        await nc.close()
    return [r for r in map(ENTRY_DECODER.decode, stored) if isinstance(r, AuditRecord)]
