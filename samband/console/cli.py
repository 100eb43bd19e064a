"""`samband console`: the security chiefs' web console for one audit identity (docs/console.md)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import os

import click

from samband.schemas.layout import OVERSIGHT

__all__ = ["commands", "console"]


@click.command("console")
@click.option(
    "--as",
    "identity",
    default=OVERSIGHT,
    show_default=True,
    help="Whose credentials read the log: the oversight (`auditor`) or an agency's (`auditor-AGENCY`).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True, help="The pages' language.")
@click.option(
    "--traces-url",
    default=lambda: os.environ.get("SAMBAND_TRACES_URL"),
    help="A trace collector's JSON query URL with {trace_id} in it (Jaeger or Tempo /api/traces/{trace_id}) "
    "[env SAMBAND_TRACES_URL].",
)
@click.option(
    "--checkpoint-max-age",
    "checkpoint_interval",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds: a newest checkpoint older than this turns the integrity page red (the writer checkpoints "
    "every append; set it to the longest the deployment is ever without one).",
)
@click.pass_obj
def console(obj, identity: str, port: int, host: str, lang: str, traces_url, checkpoint_interval: int) -> None:
    """Serve the audit console for one identity on HOST:PORT; it prints the sign-in link.

    The console connects with the identity's own credentials, so the broker decides what it
    shows. Every person search and export made in it is written to the audit log."""
    from ._backend import is_auditor
    from ._serve import serve

    if not is_auditor(identity):
        raise click.BadParameter(
            f"Expected an audit identity (`auditor` or `auditor-AGENCY`), got `{identity[:40]}`", param_hint="'--as'"
        )
    obj.deployment()  # a state directory without a deployment: one line, before anything starts
    if traces_url and "{trace_id}" not in traces_url:
        raise click.BadParameter("Expected a URL with {trace_id} in it", param_hint="'--traces-url'")
    asyncio.run(
        serve(
            obj.state_dir,
            identity,
            host=host,
            port=port,
            lang=lang,
            traces_url=traces_url,
            interval=_dt.timedelta(seconds=checkpoint_interval),
        )
    )


commands = [console]
