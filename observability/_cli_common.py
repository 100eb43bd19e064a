"""What the `samband audit` verbs share: the group, the identity and key options, times, errors."""

from __future__ import annotations

import asyncio
import datetime as _dt
from pathlib import Path

import click

from samband.schemas.layout import OVERSIGHT

from ._errors import ObservabilityError
from ._logging import output_console
from .audit import (
    TrailProblem,
    pinned_verifier,
)

console = output_console()
err = output_console(stderr=True)

_identity = click.option(
    "--as",
    "identity",
    default=OVERSIGHT,
    show_default=True,
    help="Whose credentials read the log: the oversight (`auditor`) or an agency's (`auditor-AGENCY`).",
)
_public_key = click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The log's public key to trust (PEM or C2SP verifier key); default: the deployment's keys/.",
)


def _when(_ctx, param, value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"Expected an ISO 8601 date or time like 2017-03-01 or 2017-03-01T12:00Z, got {value[:40]!r}"
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


def _pinned(obj, public_key: Path | None):
    try:
        return pinned_verifier(obj.state_dir, public_key)
    except ObservabilityError as exc:
        raise click.UsageError(str(exc)) from None


@click.group("audit")
def audit() -> None:
    """Who received what about whom, when, under which basis: query, verify, export, reconcile."""
