"""TLS on every connection that leaves the machine: what the rendered configs say, and how clients connect.

* The embedded broker (``samband up``) listens with TLS whenever it binds anything but loopback
  (``--host``), or when asked (``Deployment(tls=True)``): a client that does not speak TLS is
  refused by the server ("TLS required").
* ``samband broker render`` writes every hub node with TLS on its client port, its cluster routes
  (mutual: ``verify``) and its leaf-node listener (mutual), and every agency's leaf node with TLS on
  its remote to the hub and on its own client port.
* The monitoring endpoint (``/varz``, ``/jsz``: every account's names and sizes, no auth) binds
  to 127.0.0.1 unless told otherwise (``http_host``).

Clients trust the deployment's ``ca.pem`` (`client_tls`); identity is still the nkey.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from ._certs import CertPair

__all__ = ["LOOPBACK", "client_tls", "is_loopback", "tls_block"]

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_TIMEOUT = 2.0  # seconds for the TLS handshake (nats-server's default is 0.5, tight on a loaded machine)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def tls_block(pair: CertPair, ca: Path, *, verify: bool = False) -> dict[str, Any]:
    """A nats-server ``tls`` block; ``verify``: the other end must show a certificate of ``ca`` too."""
    block: dict[str, Any] = {
        "cert_file": str(pair.cert),
        "key_file": str(pair.key),
        "ca_file": str(ca),
        "timeout": _TIMEOUT,
    }
    if verify:
        block["verify"] = True
    return block


def client_tls(ca: Path, client: CertPair | None = None) -> dict[str, Any]:
    """nats-py's connect options for a server of this deployment: trust its CA (and show ``client``)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    return {"tls": ctx}
