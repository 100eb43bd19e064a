"""`samband onboard FILE`: a network agency joins by one file, live.

A composition verb: the broker's onboarding (samband.broker_config) is handed the adapter's
mapping check (samband.adapters), so a mapping that cannot map its own sample records is
refused before a credential is made or the broker reloaded.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import msgspec

from samband.observability import output_console

__all__ = ["onboard"]


def _check_mapping(agency, mapping_file: Path) -> None:
    from samband.adapters import MappingFileError, check_mapping
    from samband.broker_config import AgencyFileError

    try:
        check_mapping(mapping_file, agency=agency.slug, sends=agency.sends)
    except MappingFileError as exc:
        raise AgencyFileError(f"{exc}; nothing was changed") from exc


@click.command("onboard")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--start-adapter", is_flag=True, help="Also start the agency's declarative adapter in the background.")
@click.option("--json", "as_json", is_flag=True, help="What was done, as JSON on stdout.")
@click.pass_obj
def onboard(obj, file: Path, start_adapter: bool, as_json: bool) -> None:
    """Onboard the agency described by FILE onto the running broker, live (no restart).

    Its mapping is first tried on its own sample records; a mapping that cannot map them is
    refused (file, key, value) before anything changes.
    """
    from samband.broker_config import onboard as _onboard

    dep = obj.deployment()
    result = asyncio.run(_onboard(dep, file, check=_check_mapping))
    a = result.agency
    started: dict[str, object] | None = None
    if result.adapter_command and start_adapter:
        log = dep.state_dir / "adapters" / f"{a.slug}.log"
        # the adapter's log names records and positions: owner-only, like every state file
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        argv = shlex.split(result.adapter_command)
        # the same `samband` as this one (the venv's), even when it is not on PATH
        beside = Path(sys.executable).parent / "samband"
        argv[0] = str(beside) if beside.is_file() else shutil.which("samband") or "samband"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        started = {"pid": proc.pid, "log": str(log)}
    if as_json:
        doc = {
            "agency": msgspec.to_builtins(a),
            "seed_file": str(result.seed_file),
            "registration_seq": result.registration_seq,
            "mapping": a.mapping,
            "adapter_command": result.adapter_command,
            "adapter_started": started,
        }
        click.echo(msgspec.json.encode(doc).decode())
        return
    output_console().print(
        f"[green]onboarded[/] [bold]{a.slug}[/] ({a.name}, {a.tier}): account {a.slug}, "
        f"credentials {result.seed_file} (0600), mapping checked on its own sample records and kept in "
        f"{a.mapping}, broker reloaded live, registered with the router (REGISTRY seq {result.registration_seq})",
        highlight=False,
    )
    if started is not None:
        click.echo(
            f"adapter started (pid {started['pid']}, log {started['log']}); "
            f"it writes delivered records to {dep.state_dir / 'received'}"
        )
    elif result.adapter_command:
        click.echo("start its adapter (add --source EXPORT [--follow] to publish its export) with:")
        click.echo(f"  {result.adapter_command}")
