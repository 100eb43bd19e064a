"""Production layout: a 3-node cluster with JetStream (router streams at R3) and one leaf node per agency.

Each hub node carries every account (the same rendered accounts as the embedded broker) and
accepts leaf connections. An agency's leaf node runs in the agency's own network: its local
account holds the agency's own user, and its remote logs into the hub *as the agency* (the
same nkey), so the hub binds the leaf to the agency's account and applies the same
permissions. The leaf has no JetStream of its own: the agency's INBOX lives on the hub (R3).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ._agencies import Agency
from ._creds import Credentials
from ._errors import OnboardingError
from ._render import render_server_config

__all__ = ["ClusterLayout", "render_cluster"]

CLUSTER_NAME = "samband"


@dataclass(frozen=True)
class ClusterLayout:
    """Where each node listens; node ``i`` (0-based) uses ``base + i`` for each kind of port."""

    host: str = "127.0.0.1"
    client_base: int = 4222
    cluster_base: int = 6222
    leaf_base: int = 7422
    http_base: int = 8222
    leaf_client_base: int = 5222

    def node_urls(self, nodes: int) -> list[str]:
        return [f"nats://{self.host}:{self.client_base + i}" for i in range(nodes)]


def _json(config: dict) -> str:
    return msgspec.json.format(msgspec.json.encode(config), indent=2).decode() + "\n"


def _write_secret(path: Path, text: str) -> None:
    """Leaf configs hold an nkey seed: owner-only, like every credential."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def render_cluster(
    *,
    agencies: Iterable[Agency],
    creds: Credentials,
    out_dir: Path,
    nodes: int = 3,
    leaves: Iterable[str] = (),
    layout: ClusterLayout = ClusterLayout(),
) -> list[Path]:
    """Write ``node-1.conf`` .. ``node-N.conf`` and ``leaf-<agency>.conf``; return their paths."""
    agencies = list(agencies)
    by_slug = {a.slug: a for a in agencies}
    for slug in leaves:
        if slug not in by_slug:
            raise OnboardingError(f"--leaf: Expected an agency on the bus ({', '.join(sorted(by_slug))}), got {slug!r}")
    if nodes < 1:
        raise OnboardingError(f"--cluster: Expected at least 1 node, got {nodes}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    routes = [f"nats-route://{layout.host}:{layout.cluster_base + i}" for i in range(nodes)]
    for i in range(nodes):
        name = f"samband-{i + 1}"
        extra: dict = {
            "leafnodes": {"host": layout.host, "port": layout.leaf_base + i},
            "pid_file": str(out_dir / f"{name}.pid"),
        }
        if nodes > 1:
            extra["cluster"] = {"name": CLUSTER_NAME, "host": layout.host, "port": layout.cluster_base + i, "routes": routes}
        text = render_server_config(
            agencies=agencies, creds=creds, store_dir=out_dir / f"{name}-jetstream", port=layout.client_base + i,
            http_port=layout.http_base + i, host=layout.host, server_name=name, extra=extra,
        )
        path = out_dir / f"node-{i + 1}.conf"
        path.write_text(text)
        written.append(path)
    for j, slug in enumerate(leaves):
        seed = creds.seed_path(slug).read_text().strip()
        config = {
            "server_name": f"leaf-{slug}",
            "host": layout.host,
            "port": layout.leaf_client_base + j,
            # The agency's adapter connects here with its usual seed; nothing else can.
            "accounts": {slug: {"users": [{"nkey": creds.public_key(slug)}]}},
            "leafnodes": {
                "remotes": [{
                    "urls": [f"nats-leaf://{layout.host}:{layout.leaf_base + i}" for i in range(nodes)],
                    "account": slug,
                    "nkey": seed,
                }],
            },
        }
        path = out_dir / f"leaf-{slug}.conf"
        _write_secret(path, _json(config))
        written.append(path)
    return written
