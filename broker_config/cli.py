"""`samband offboard|creds|broker`: agencies leaving live, credentials, production configs.

(`samband onboard` composes the broker's onboarding with the adapter's mapping check: it lives in samband/.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import msgspec

from samband.observability import output_console
from samband.schemas import unknown_name

from ._agencies import load_agency_file
from ._audit import inbox_prefix
from ._errors import BrokerUnavailable
from ._onboarding import offboard as _offboard
from ._production import ClusterLayout, provision_cluster, render_cluster
from ._tls import client_tls

console = output_console()
_JSON = click.option("--json", "as_json", is_flag=True, help="The result as JSON on stdout.")


def _emit_json(doc: object) -> None:
    click.echo(msgspec.json.encode(doc).decode())


@click.command("offboard")
@click.argument("agency")
@_JSON
@click.pass_obj
def offboard(obj, agency: str, as_json: bool) -> None:
    """Revoke AGENCY's credentials live; its grants lapse, its audit history stays."""
    dep = obj.deployment()
    if agency not in dep.agencies:
        raise click.BadParameter(unknown_name("an agency on the bus", agency, dep.agencies), param_hint="'AGENCY'")
    seq = asyncio.run(_offboard(dep, agency))
    if as_json:
        _emit_json({"agency": agency, "registration_seq": seq, "active": False})
        return
    console.print(
        f"[yellow]offboarded[/] [bold]{agency}[/]: credentials revoked, its connections closed by a live reload, "
        f"registration inactive (REGISTRY seq {seq}); the audit trail keeps its history"
    )


@click.group("creds")
def creds() -> None:
    """Credentials of the deployment's identities."""


@creds.command("show")
@click.argument("identity")
@_JSON
@click.pass_obj
def creds_show(obj, identity: str, as_json: bool) -> None:
    """How IDENTITY (an agency slug, router, sso, auditor, admin) connects: URL, seed file, snippets."""
    dep = obj.deployment()
    seed = dep.seed(identity)
    if not seed.exists():
        known = sorted(p.stem for p in dep.creds.dir.glob("*.nk"))
        raise click.BadParameter(unknown_name("an identity with credentials", identity, known), param_hint="'IDENTITY'")
    account = identity if identity in dep.agencies else {"sso": "SSO", "admin": "SYS"}.get(identity, "ROUTER")
    prefix = inbox_prefix(identity)
    inbox = f', inbox_prefix="{prefix}"' if prefix else ""
    if as_json:
        _emit_json(
            {
                "identity": identity,
                "account": account,
                "public_key": dep.creds.public_key(identity),
                "url": dep.url,
                "seed_file": str(seed),
                "inbox_prefix": prefix,
            }
        )
        return
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
                f'    nc = await nats.connect("{dep.url}", nkeys_seed="{seed}"{inbox})',
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
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Number of hub nodes (JetStream, R3 router streams).",
)
@click.option(
    "--leaf", "leaves", multiple=True, help="An agency that runs a leaf node in its own network (repeatable)."
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="The nodes' address (named in their certificate).")
@click.option(
    "--http-host",
    default="127.0.0.1",
    show_default=True,
    help="Where each node's monitoring endpoint (no auth) listens.",
)
@click.option(
    "--agency-file",
    "agency_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra (network) agency files to include beside the deployment's agencies.",
)
@_JSON
@click.pass_obj
def broker_render(
    obj,
    nodes: int,
    leaves: tuple[str, ...],
    out_dir: Path,
    host: str,
    http_host: str,
    agency_files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Write a production layout: NODES hub configs and one leaf-node config per --leaf agency, TLS on
    every listener (certificates in OUT/tls, issued by the deployment's CA)."""
    from ._deployment import Deployment

    dep = Deployment.load(obj.state_dir) if (obj.state_dir / "deployment.json").exists() else Deployment(obj.state_dir)
    agencies = dict(dep.agencies)
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
        http_host=http_host,
    )
    from ._server import check_config

    for p in paths:
        check_config(p)
    if as_json:
        _emit_json({"written": [str(p) for p in paths], "checked": True})
        return
    for p in paths:
        console.print(f"wrote {p}" + ("  (holds the agency's seed: 0600)" if p.name.startswith("leaf-") else ""))
    console.print(f"each config checked with `nats-server -t`; start a node with `nats-server -c {paths[0]}`")


@broker.command("provision")
@click.option("--server", "servers", multiple=True, required=True, help="A node's client URL (repeatable).")
@click.option(
    "--replicas", type=click.IntRange(min=1), default=3, show_default=True, help="JetStream replicas for every stream."
)
@_JSON
@click.pass_obj
def broker_provision(obj, servers: tuple[str, ...], replicas: int, as_json: bool) -> None:
    """Create the router's and every agency's streams on a running cluster (R3 by default)."""
    dep = obj.deployment()
    ca = dep.tls_dir / "ca.pem"
    if not ca.exists():
        raise BrokerUnavailable(f"Expected the deployment's CA at {ca} (made by `samband broker render`), got none")
    asyncio.run(
        provision_cluster(dep.creds, dep.agencies.values(), list(servers), replicas=replicas, tls=client_tls(ca))
    )
    if as_json:
        _emit_json({"servers": list(servers), "agencies": sorted(dep.agencies), "replicas": replicas})
        return
    console.print(f"streams of ROUTER and {len(dep.agencies)} agencies provisioned with {replicas} replicas")


commands = [offboard, creds, broker]
