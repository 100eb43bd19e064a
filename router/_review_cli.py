"""`samband review list|show|release|withhold`: the originator's officer at the review queue.

The officer connects as ``reviewer-<agency>`` (made at setup like the auditor identities) and asks
the running router on ``review.<agency>.<verb>``; the broker lets that identity ask about its own
agency's records only, and the router takes the agency from the subject, never from the request.
"""

from __future__ import annotations

import asyncio

import click
import msgspec
from nats.errors import Error as NatsError
from rich.console import Console

from samband.schemas.layout import review_request_subject, reviewer_identity

from ._decision_cli import _connect
from ._legal_time import swedish_text
from ._review_desk import MAX_REQUEST, HoldView, ReviewReply, ReviewRequest, no_reason

__all__ = ["review"]

console = Console(highlight=False)
_REPLY = msgspec.json.Decoder(ReviewReply)
_TIMEOUT = 15.0

_agency = click.option(
    "--agency",
    required=True,
    help="Your agency (its officer's credentials, reviewer-AGENCY, are used): the originator of the records.",
)
_json = click.option("--json", "as_json", is_flag=True, help="The router's answer as JSON on stdout.")
_to = click.option(
    "--to",
    "recipients",
    multiple=True,
    metavar="RECIPIENT",
    help="Only the hold for this recipient (repeatable; default: every recipient the record is held for).",
)


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


async def _ask(obj, agency: str, verb: str, req: ReviewRequest) -> ReviewReply:
    nc = await _connect(obj, reviewer_identity(agency))
    try:
        msg = await nc.request(review_request_subject(agency, verb), msgspec.json.encode(req), timeout=_TIMEOUT)
    except (NatsError, TimeoutError) as exc:
        raise click.ClickException(
            f"Expected an answer from the router within {_TIMEOUT:g}s, got {type(exc).__name__}: is it running?"
        ) from None
    finally:
        await nc.close()
    try:
        return _REPLY.decode(msg.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise click.ClickException(f"Expected the router's answer, got {exc}") from None


def _request(obj, agency: str, verb: str, req: ReviewRequest, as_json: bool) -> ReviewReply:
    obj.check_agency(agency, "--agency")
    if len(msgspec.json.encode(req)) > MAX_REQUEST:
        raise click.UsageError(f"Expected a request of at most {MAX_REQUEST} bytes (a shorter reason)")
    reply = asyncio.run(_ask(obj, agency, verb, req))
    if as_json:
        click.echo(msgspec.json.encode(reply))
        if reply.error:
            raise SystemExit(1)
    elif reply.error:
        raise click.ClickException(reply.error)
    return reply


def _line(h: HoldView) -> str:
    if h.state == "held":
        state = f"held until {swedish_text(h.lapses_at.replace(microsecond=0))}"
    else:
        by = f" by {h.officer}" if h.officer else ""
        state = f"{h.state}{by} at {swedish_text((h.decided_at or h.held_at).replace(microsecond=0))}"
    return f"{h.envelope_id}  {h.record_type}  {h.operation}  -> {h.recipient}  {state}"


@click.group("review")
def review() -> None:
    """The originator's balancing test (LUS 2 §): records held for your agency's review before disclosure."""


@review.command("list")
@_agency
@click.option("--all", "everything", is_flag=True, help="Also the holds already released, withheld or lapsed.")
@_json
@click.pass_obj
def list_cmd(obj, agency: str, everything: bool, as_json: bool) -> None:
    """Your agency's held records, one line per (record, recipient)."""
    reply = _request(obj, agency, "list", ReviewRequest(all=everything), as_json)
    if as_json:
        return
    if not reply.holds:
        _say(f"nothing of {agency} is held for review")
    for h in sorted(reply.holds, key=lambda h: (h.held_at, h.envelope_id, h.recipient)):
        _say(_line(h))


@review.command("show")
@_agency
@click.argument("envelope_id")
@_to
@_json
@click.pass_obj
def show_cmd(obj, agency: str, envelope_id: str, recipients: tuple[str, ...], as_json: bool) -> None:
    """One held record: why it is held, and the copy each recipient would get (its fields only)."""
    reply = _request(obj, agency, "show", ReviewRequest(envelope_id=envelope_id, recipients=recipients), as_json)
    if as_json:
        return
    for h in reply.holds:
        _say(_line(h))
        _say(f"  why: {h.why}")
        _say(f"  under: {h.legal_basis or '-'} for {h.purpose or '-'}; fields: {', '.join(h.fields) or '-'}")
        if h.reason:
            _say(f"  reason: {h.reason}")
        if h.record is not None:
            _say(f"  record: {msgspec.json.encode(h.record).decode()}")


@review.command("release")
@_agency
@click.argument("envelope_id")
@_to
@click.option("--note", default=None, help="Why it may be disclosed (kept in the audit entry).")
@_json
@click.pass_obj
def release_cmd(obj, agency: str, envelope_id: str, recipients: tuple[str, ...], note: str | None, as_json: bool):
    """Release a held record: delivered (each recipient's own fields) and audited with your identity."""
    req = ReviewRequest(envelope_id=envelope_id, recipients=recipients, reason=note)
    reply = _request(obj, agency, "release", req, as_json)
    if not as_json:
        _report(reply, "released to")


@review.command("withhold")
@_agency
@click.argument("envelope_id")
@_to
@click.option("--reason", default=None, help="What the balancing test found (required; kept in the audit entry).")
@_json
@click.pass_obj
def withhold_cmd(obj, agency: str, envelope_id: str, recipients: tuple[str, ...], reason: str | None, as_json: bool):
    """Withhold a held record: never delivered, audited with your identity and your reason."""
    if not (reason or "").strip():
        raise click.UsageError(no_reason())
    req = ReviewRequest(envelope_id=envelope_id, recipients=recipients, reason=reason)
    reply = _request(obj, agency, "withhold", req, as_json)
    if not as_json:
        _report(reply, "withheld from")


def _report(reply: ReviewReply, done: str) -> None:
    if reply.changed:
        _say(f"{done} {', '.join(reply.changed)}")
    for line in reply.unchanged:
        _say(f"nothing to do: {line}")
