"""`samband onboard|offboard|creds|broker`: agencies joining and leaving live, credentials, production configs."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console

from ._agencies import load_agency_file
from ._errors import BrokerConfigError
from ._onboarding import offboard as _offboard
from ._onboarding import onboard as _onboard
from ._production import ClusterLayout, provision_cluster, render_cluster

console = Console()


def _run(coro):
    try:
        return asyncio.run(coro)
    except BrokerConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("onboard")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--start-adapter", is_flag=True, help="Also start the agency's declarative adapter in the background.")
@click.pass_obj
def onboard(obj, file: Path, start_adapter: bool) -> None:
    """Onboard the agency described by FILE onto the running broker, live (no restart)."""
    dep = obj.deployment()
    result = _run(_onboard(dep, file))
    a = result.agency
    console.print(
        f"[green]onboarded[/] [bold]{a.slug}[/] ({a.name}, {a.tier}): account {a.slug}, "
        f"credentials {result.seed_file} (0600), broker reloaded live, "
        f"registered with the router (REGISTRY seq {result.registration_seq})"
    )
    if result.adapter_command:
        if start_adapter:
            log = dep.state_dir / "adapters" / f"{a.slug}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            argv = shlex.split(result.adapter_command)
            # the same `samband` as this one (the venv's), even when it is not on PATH
            beside = Path(sys.executable).parent / "samband"
            argv[0] = str(beside) if beside.is_file() else shutil.which("samband") or "samband"
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
                )
            click.echo(
                f"adapter started (pid {proc.pid}, log {log}); "
                f"it writes delivered records to {dep.state_dir / 'received'}"
            )
        else:
            click.echo("start its adapter (add --source EXPORT [--follow] to publish its export) with:")
            click.echo(f"  {result.adapter_command}")


@click.command("offboard")
@click.argument("agency")
@click.pass_obj
def offboard(obj, agency: str) -> None:
    """Revoke AGENCY's credentials live; its grants lapse, its audit history stays."""
    dep = obj.deployment()
    seq = _run(_offboard(dep, agency))
    console.print(
        f"[yellow]offboarded[/] [bold]{agency}[/]: credentials revoked, its connections closed by a live reload, "
        f"registration inactive (REGISTRY seq {seq}); the audit trail keeps its history"
    )


@click.group("creds")
def creds() -> None:
    """Credentials of the deployment's identities."""


@creds.command("show")
@click.argument("identity")
@click.pass_obj
def creds_show(obj, identity: str) -> None:
    """How IDENTITY (an agency slug, router, sso, auditor, admin) connects: URL, seed file, snippets."""
    dep = obj.deployment()
    seed = dep.seed(identity)
    if not seed.exists():
        known = sorted(p.stem for p in dep.creds.dir.glob("*.nk"))
        raise click.ClickException(f"Expected an identity with credentials ({', '.join(known)}), got {identity!r}")
    account = (
        identity
        if identity in dep.agencies
        else {"router": "ROUTER", "auditor": "ROUTER", "steward": "ROUTER", "sso": "SSO", "admin": "SYS"}.get(
            identity, "?"
        )
    )
    # Plain echo, not rich: these lines are meant to be copied, so they must never be wrapped.
    sample = "out.outcome" if identity in dep.agencies else "registry.>"
    verb = "pub" if identity in dep.agencies else "sub"
    click.echo(
        "\n".join(
            [
                f"{identity} (account {account}, public key {dep.creds.public_key(identity)})",
                f"  url:       {dep.url}",
                f"  seed file: {seed}  (0600; keep it secret, never commit it)",
                "  nats-py:",
                "    import nats",
                f'    nc = await nats.connect("{dep.url}", nkeys_seed="{seed}")',
                "  nats CLI:",
                f"    nats --server {dep.url} --nkey {seed} {verb} {sample}" + (" '{...}'" if verb == "pub" else ""),
            ]
        )
    )


@click.group("broker")
def broker() -> None:
    """The broker's configuration."""


@broker.command("render")
@click.option(
    "--cluster",
    "nodes",
    type=int,
    default=3,
    show_default=True,
    help="Number of hub nodes (JetStream, R3 router streams).",
)
@click.option(
    "--leaf", "leaves", multiple=True, help="An agency that runs a leaf node in its own network (repeatable)."
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--agency-file",
    "agency_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra (network) agency files to include beside the deployment's agencies.",
)
@click.pass_obj
def broker_render(
    obj, nodes: int, leaves: tuple[str, ...], out_dir: Path, host: str, agency_files: tuple[Path, ...]
) -> None:
    """Write a production layout: NODES hub configs and one leaf-node config per --leaf agency."""
    from ._deployment import Deployment

    dep = Deployment.load(obj.state_dir) if (obj.state_dir / "deployment.json").exists() else Deployment(obj.state_dir)
    agencies = dict(dep.agencies)
    try:
        for f in agency_files:
            a = load_agency_file(f)
            agencies[a.slug] = a
        paths = render_cluster(
            agencies=agencies.values(),
            creds=dep.creds,
            out_dir=out_dir,
            nodes=nodes,
            leaves=leaves,
            layout=ClusterLayout.standard(nodes, len(leaves), host),
        )
        from ._server import check_config

        for p in paths:
            check_config(p)
    except BrokerConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for p in paths:
        console.print(f"wrote {p}" + ("  (holds the agency's seed: 0600)" if p.name.startswith("leaf-") else ""))
    console.print(f"each config checked with `nats-server -t`; start a node with `nats-server -c {paths[0]}`")


@broker.command("provision")
@click.option("--server", "servers", multiple=True, required=True, help="A node's client URL (repeatable).")
@click.option("--replicas", type=int, default=3, show_default=True, help="JetStream replicas for every stream.")
@click.pass_obj
def broker_provision(obj, servers: tuple[str, ...], replicas: int) -> None:
    """Create the router's and every agency's streams on a running cluster (R3 by default)."""
    dep = obj.deployment()
    _run(provision_cluster(dep.creds, sorted(dep.agencies), list(servers), replicas=replicas))
    console.print(f"streams of ROUTER and {len(dep.agencies)} agencies provisioned with {replicas} replicas")


commands = [onboard, offboard, creds, broker]
