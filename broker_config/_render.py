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
from ._audit import audit_users, inbox_prefix, router_denies, steward_denies
from ._creds import ADMIN, ROUTER, SSO, STEWARD, Credentials

__all__ = ["JS_DENY_DESTRUCTIVE", "ROUTER_ACCOUNT", "SSO_ACCOUNT", "SYSTEM_ACCOUNT", "render_server_config"]

ROUTER_ACCOUNT, SSO_ACCOUNT, SYSTEM_ACCOUNT = "ROUTER", "SSO", "SYS"

JS_DENY_DESTRUCTIVE = [
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
]

# The router appends to the audit log but may not change its streams (a lower `max_msgs` with
# `discard=old` would make the server drop the oldest entries): only the audit admin may.
ROUTER_DENY = [*JS_DENY_DESTRUCTIVE, *router_denies()]

# Per-account JetStream limits: an agency's inbox cannot exhaust the server, nor the router's
# audit trail starve the agencies. SSO has no JetStream of its own (it publishes into ROUTER).
AGENCY_JS_LIMITS = {"max_mem": 8 * 2**20, "max_file": 1 * 2**30, "max_streams": 8, "max_consumers": 64}
ROUTER_JS_LIMITS = {"max_mem": 256 * 2**20, "max_file": 32 * 2**30, "max_streams": 32, "max_consumers": 256}


def _agency_account(agency: Agency, creds: Credentials) -> dict:
    slug = agency.slug
    return {
        "jetstream": AGENCY_JS_LIMITS,
        "users": [
            {
                "nkey": creds.ensure(slug),
                "permissions": {
                    # `in.>` is written only by the router through the service import; the
                    # agency itself may not forge deliveries into its own inbox.
                    # Nor may it delete or purge its inbox: the router's deliveries would find no responder.
                    "publish": {
                        "allow": ["out.>", "dlq.>", "receipts.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>"],
                        "deny": JS_DENY_DESTRUCTIVE,
                    },
                    "subscribe": {"allow": ["_INBOX.>", "deliver.>"]},
                },
            }
        ],
        "exports": [{"service": "in.>", "accounts": [ROUTER_ACCOUNT]}],
        "imports": [
            {"service": {"account": ROUTER_ACCOUNT, "subject": f"ingest.{slug}.>"}, "to": "out.>"},
            {"service": {"account": ROUTER_ACCOUNT, "subject": f"receipt.{slug}.>"}, "to": "receipts.>"},
        ],
    }


def render_server_config(
    *,
    agencies: Iterable[Agency],
    creds: Credentials,
    store_dir: Path,
    port: int,
    http_port: int | None = None,
    host: str = "127.0.0.1",
    server_name: str = "samband",
    extra: dict | None = None,
) -> str:
    """The nats-server configuration text (nats-server's config format accepts JSON)."""
    agencies = sorted(agencies, key=lambda a: a.slug)
    router_account = {
        "jetstream": ROUTER_JS_LIMITS,
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
        "imports": [{"service": {"account": a.slug, "subject": "in.>"}, "to": f"inbox.{a.slug}.>"} for a in agencies],
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
        accounts[agency.slug] = _agency_account(agency, creds)
    config: dict = {
        "server_name": server_name,
        "host": host,
        "port": port,
        "jetstream": {"store_dir": str(store_dir), "max_memory_store": 512 * 2**20, "max_file_store": 64 * 2**30},
        "system_account": SYSTEM_ACCOUNT,
        "accounts": accounts,
        "max_payload": 2 * 2**20,
    }
    if http_port is not None:
        config["http_port"] = http_port
    if extra:
        config.update(extra)
    return msgspec.json.format(msgspec.json.encode(config), indent=2).decode() + "\n"
