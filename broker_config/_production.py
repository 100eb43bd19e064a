"""Production layout: a 3-node cluster with JetStream (router streams at R3) and one leaf node per agency.

Each hub node carries every account (the same rendered accounts as the embedded broker) and
accepts leaf connections. An agency's leaf node runs in the agency's own network: its local
account holds the agency's own user, and its remote logs into the hub *as the agency* (the
same nkey), so the hub binds the leaf to the agency's account and applies the same
permissions. The leaf has no JetStream of its own: the agency's INBOX lives on the hub (R3).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ._agencies import Agency
from ._certs import ensure_ca, issue
from ._creds import Credentials
from ._errors import OnboardingError
from ._render import render_server_config
from ._secrets import private_dir, write_private
from ._tls import tls_block

__all__ = ["ClusterLayout", "provision_cluster", "render_cluster"]

CLUSTER_NAME = "samband"


@dataclass(frozen=True)
class ClusterLayout:
    """Where each hub node (and each leaf node) listens, one list entry per node."""

    client_ports: tuple[int, ...]
    cluster_ports: tuple[int, ...]
    leaf_ports: tuple[int, ...]
    http_ports: tuple[int, ...]
    leaf_client_ports: tuple[int, ...]
    leaf_http_ports: tuple[int, ...] = ()
    host: str = "127.0.0.1"

    @classmethod
    def standard(cls, nodes: int, leaves: int, host: str = "127.0.0.1") -> ClusterLayout:
        """The NATS default ports, one up per node: 4222.., 6222.., 7422.., 8222..; leaves on 5222.."""
        return cls(
            client_ports=tuple(4222 + i for i in range(nodes)),
            cluster_ports=tuple(6222 + i for i in range(nodes)),
            leaf_ports=tuple(7422 + i for i in range(nodes)),
            http_ports=tuple(8222 + i for i in range(nodes)),
            leaf_client_ports=tuple(5222 + j for j in range(leaves)),
            leaf_http_ports=tuple(8322 + j for j in range(leaves)),
            host=host,
        )

    @classmethod
    def free(cls, nodes: int, leaves: int, host: str = "127.0.0.1") -> ClusterLayout:
        """Free ports on this machine (tests, or several layouts side by side)."""
        ports = iter(_free_ports(4 * nodes + 2 * leaves, host))
        take = lambda n: tuple(next(ports) for _ in range(n))  # noqa: E731
        return cls(
            client_ports=take(nodes),
            cluster_ports=take(nodes),
            leaf_ports=take(nodes),
            http_ports=take(nodes),
            leaf_client_ports=take(leaves),
            leaf_http_ports=take(leaves),
            host=host,
        )

    def node_urls(self) -> list[str]:
        return [f"nats://{self.host}:{p}" for p in self.client_ports]


def _free_ports(n: int, host: str) -> list[int]:
    """``n`` distinct free ports (held open together so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _json(config: dict) -> str:
    return msgspec.json.format(msgspec.json.encode(config), indent=2).decode() + "\n"


def render_cluster(
    *,
    agencies: Iterable[Agency],
    creds: Credentials,
    out_dir: Path,
    nodes: int = 3,
    leaves: Iterable[str] = (),
    layout: ClusterLayout | None = None,
    http_host: str = "127.0.0.1",
) -> list[Path]:
    """Write ``node-1.conf`` .. ``node-N.conf`` and ``leaf-<agency>.conf``; return their paths.

    Every listener is TLS (`_tls`): the nodes' client ports, their cluster routes and leaf-node
    listeners (mutual TLS), and each leaf's remote and client port. The certificates go to
    ``<out>/tls/`` (``ca.pem``; ``node.pem`` naming the layout's host; ``leaf-<agency>.pem``),
    issued by the deployment's CA in ``<state>/tls`` (its key stays there). The monitoring
    endpoints listen on ``http_host`` (loopback unless told otherwise).
    """
    agencies, leaves = list(agencies), list(leaves)
    layout = layout or ClusterLayout.standard(nodes, len(leaves))
    if len(layout.client_ports) != nodes or len(layout.leaf_client_ports) < len(leaves):
        raise OnboardingError(f"Expected a layout for {nodes} nodes and {len(leaves)} leaves, got {layout}")
    by_slug = {a.slug: a for a in agencies}
    for slug in leaves:
        if slug not in by_slug:
            raise OnboardingError(f"--leaf: Expected an agency on the bus ({', '.join(sorted(by_slug))}), got {slug!r}")
    if nodes < 1:
        raise OnboardingError(f"--cluster: Expected at least 1 node, got {nodes}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tls_dir = out_dir / "tls"
    ca = ensure_ca(creds.dir.parent / "tls")
    private_dir(tls_dir)
    ca_file = tls_dir / "ca.pem"
    write_private(ca_file, ca.cert.read_bytes())
    node = issue(tls_dir, "node", [layout.host], ca)
    written: list[Path] = []
    routes = [f"nats-route://{layout.host}:{p}" for p in layout.cluster_ports]
    for i in range(nodes):
        name = f"samband-{i + 1}"
        extra: dict = {
            "leafnodes": {
                "host": layout.host,
                "port": layout.leaf_ports[i],
                "tls": tls_block(node, ca_file, verify=True),
            },
            "pid_file": str(out_dir / f"{name}.pid"),
        }
        if nodes > 1:
            extra["cluster"] = {
                "name": CLUSTER_NAME,
                "host": layout.host,
                "port": layout.cluster_ports[i],
                "routes": routes,
                "tls": tls_block(node, ca_file, verify=True),
            }
        text = render_server_config(
            agencies=agencies,
            creds=creds,
            store_dir=out_dir / f"{name}-jetstream",
            port=layout.client_ports[i],
            http_port=layout.http_ports[i],
            host=layout.host,
            server_name=name,
            replicas=min(3, nodes),
            tls=tls_block(node, ca_file),
            http_host=http_host,
            extra=extra,
        )
        path = out_dir / f"node-{i + 1}.conf"
        write_private(path, text)
        written.append(path)
    for j, slug in enumerate(leaves):
        seed = creds.seed_path(slug).read_text().strip()
        leaf = issue(tls_dir, f"leaf-{slug}", [layout.host], ca)
        config = {
            "server_name": f"leaf-{slug}",
            "host": layout.host,
            "port": layout.leaf_client_ports[j],
            **({"http": f"{http_host}:{layout.leaf_http_ports[j]}"} if layout.leaf_http_ports else {}),
            # The agency's adapter connects here with its usual seed (over TLS); nothing else can.
            "tls": tls_block(leaf, ca_file),
            "accounts": {slug: {"users": [{"nkey": creds.public_key(slug)}]}},
            "leafnodes": {
                "remotes": [
                    {
                        "urls": [f"nats-leaf://{layout.host}:{p}" for p in layout.leaf_ports],
                        "account": slug,
                        "nkey": seed,
                        # mutual TLS: the hub's listener asks for the leaf's certificate
                        "tls": {"cert_file": str(leaf.cert), "key_file": str(leaf.key), "ca_file": str(ca_file)},
                    }
                ],
            },
        }
        path = out_dir / f"leaf-{slug}.conf"
        write_private(path, _json(config))  # it holds the agency's nkey seed
        written.append(path)
    return written


async def provision_cluster(
    creds: Credentials, agencies: Iterable[Agency], servers: list[str], *, replicas: int = 3, tls: dict | None = None
) -> None:
    """Create the router's streams, the audit log's and every agency's streams on a running cluster,
    ``replicas`` each.

    The router's streams are made with ``steward``'s credentials (ROUTER account), each agency's own
    streams with ``<agency>-steward``'s (its account): the agencies' own users may not create streams;
    the audit log's with the audit admin's, which must be at hand (``SAMBAND_ADMIN_DIR``).
    ``tls``: nats-py's TLS options (see `client_tls`): the rendered cluster requires TLS.
    """
    import nats
    from nats.errors import Error as NatsError

    from ._audit import inbox_prefix, provision_audit
    from ._creds import AUDIT_ADMIN, STEWARD
    from ._deployment import ROUTER_STREAMS, provision_agency, provision_streams
    from ._errors import BrokerUnavailable
    from ._permissions import agency_steward

    async def connect(identity: str):
        try:
            return await nats.connect(
                servers=servers,
                nkeys_seed=str(creds.seed_path(identity)),
                connect_timeout=5,
                name=f"samband-provision-{identity}",
                **({"inbox_prefix": prefix} if (prefix := inbox_prefix(identity)) else {}),
                **(tls or {}),
            )
        except (NatsError, OSError) as exc:
            raise BrokerUnavailable(
                f"Expected a connection to {', '.join(servers)} as {identity}, got {exc!r}"
            ) from exc

    router = await connect(STEWARD)
    try:
        await provision_streams(router, ROUTER_STREAMS, replicas=replicas)
        for agency in agencies:
            own = await connect(agency_steward(agency.slug))
            try:
                await provision_agency(router, own, agency, replicas=replicas)
            finally:
                await own.close()
    finally:
        await router.close()
    if not creds.has_seed(AUDIT_ADMIN):
        raise BrokerUnavailable(
            f"Expected the audit admin's seed at {creds.seed_path(AUDIT_ADMIN)} to make the audit streams, "
            "it is not there (point SAMBAND_ADMIN_DIR at it)"
        )
    nc = await connect(AUDIT_ADMIN)
    try:
        await provision_audit(nc, replicas=replicas)
    finally:
        await nc.close()
