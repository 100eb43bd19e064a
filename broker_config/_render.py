"""Render the nats-server configuration from the deployment's agencies and credentials.

The recipe (verified against nats-server 2.15, see docs/broker.md):

* **ingest**: ROUTER exports the service ``ingest.*.>`` with ``account_token_position: 2``;
  agency X imports ``ingest.X.>`` as ``out.>``. X publishes ``out.<type>`` and gets its PubAck
  from ROUTER's INGEST stream; the router sees ``ingest.X.<type>``, X set by the server from
  the account, so origin cannot be forged. Receipts go the same way (``receipt.*.>`` / ``receipts.>``).
* **dead letters** stay in the agency's own account (DEADLETTER stream on ``dlq.>``): they hold
  the agency's raw native records, which no other party needs, and its IT team lists them with
  its own credentials.
* **deliver**: X has JetStream and an INBOX stream on ``in.>`` and exports the service ``in.>``
  to ROUTER only; ROUTER imports it as ``inbox.X.>``. The PubAck of a delivery comes from X's
  own inbox stream.
* **decisions**: ROUTER exports ``decisions.>`` to SSO only.
* Audit streams live in ROUTER; its users may not delete or purge streams or messages; who may
  write, change and read them is drawn in `_audit.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec

from ._agencies import Agency
from ._audit import audit_users, chief_exports, chief_imports, inbox_prefix, router_denies, steward_denies
from ._creds import ADMIN, ROUTER, SSO, STEWARD, Credentials
from ._permissions import JS_DENY_DESTRUCTIVE, ROUTER_ACCOUNT, agency_account, router_imports
from ._quotas import SERVER_JS_LIMITS, SERVER_MAX_PAYLOAD, router_js_limits

__all__ = ["JS_DENY_DESTRUCTIVE", "ROUTER_ACCOUNT", "SSO_ACCOUNT", "SYSTEM_ACCOUNT", "render_server_config"]

SSO_ACCOUNT, SYSTEM_ACCOUNT = "SSO", "SYS"

# The router appends to the audit log but may not change its streams (a lower `max_msgs` with
# `discard=old` would make the server drop the oldest entries): only the audit admin may.
ROUTER_DENY = [*JS_DENY_DESTRUCTIVE, *router_denies()]


def render_server_config(
    *,
    agencies: Iterable[Agency],
    creds: Credentials,
    store_dir: Path,
    port: int,
    http_port: int | None = None,
    host: str = "127.0.0.1",
    server_name: str = "samband",
    replicas: int = 1,
    tls: dict | None = None,
    http_host: str = "127.0.0.1",
    extra: dict | None = None,
) -> str:
    """The nats-server configuration text (nats-server's config format accepts JSON).

    ``replicas``: of the router's streams (3 in a cluster), which its account's storage limit is
    scaled by; ``tls``: the client port's ``tls`` block (`_tls.tls_block`), required of every client;
    ``http_host``: where the monitoring endpoint listens (loopback unless told otherwise)."""
    agencies = sorted(agencies, key=lambda a: a.slug)
    router_account = {
        "jetstream": router_js_limits((a.limits for a in agencies), replicas=replicas),
        "users": [
            {
                "nkey": creds.ensure(ROUTER),
                "permissions": {
                    "publish": {"allow": [">"], "deny": ROUTER_DENY},
                    "subscribe": {"allow": [">"]},
                },
            },
            {
                "nkey": creds.ensure(STEWARD),
                "permissions": {
                    "publish": {"allow": [">"], "deny": [*JS_DENY_DESTRUCTIVE, *steward_denies()]},
                    "subscribe": {"allow": [f"{inbox_prefix(STEWARD)}.>"]},
                },
            },
            *audit_users(creds, agencies, JS_DENY_DESTRUCTIVE),
        ],
        "exports": [
            {"service": "ingest.*.>", "account_token_position": 2},
            {"service": "receipt.*.>", "account_token_position": 2},
            {"service": "decisions.>", "accounts": [SSO_ACCOUNT]},
        ],
        "imports": [*router_imports(agencies), *chief_imports(agencies)],
    }
    accounts: dict[str, dict] = {
        SYSTEM_ACCOUNT: {"users": [{"nkey": creds.ensure(ADMIN)}]},
        ROUTER_ACCOUNT: router_account,
        SSO_ACCOUNT: {
            "users": [
                {
                    "nkey": creds.ensure(SSO),
                    "permissions": {"publish": {"allow": ["decisions.>"]}, "subscribe": {"allow": ["_INBOX.>"]}},
                }
            ],
            "imports": [{"service": {"account": ROUTER_ACCOUNT, "subject": "decisions.>"}}],
        },
    }
    for agency in agencies:
        account = agency_account(agency, creds)
        account["exports"].extend(chief_exports(agency))
        accounts[agency.slug] = account
    config: dict = {
        "server_name": server_name,
        "host": host,
        "port": port,
        "jetstream": {"store_dir": str(store_dir), **SERVER_JS_LIMITS},
        "system_account": SYSTEM_ACCOUNT,
        "accounts": accounts,
        "max_payload": SERVER_MAX_PAYLOAD,
    }
    if http_port is not None:
        # /varz and /jsz answer anyone who reaches them: on loopback, not on the client's host
        config["http"] = f"[{http_host}]:{http_port}" if ":" in http_host else f"{http_host}:{http_port}"
    if tls is not None:
        config["tls"] = tls
    if extra:
        config.update(extra)
    return msgspec.json.format(msgspec.json.encode(config), indent=2).decode() + "\n"
