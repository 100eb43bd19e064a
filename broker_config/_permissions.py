"""An agency's account: what its own credentials may do, and what the platform's steward does for it.

The agency's user publishes its records (``out.>``), its adapter's dead letters (``dlq.>``) and its
receipts, and is a *consumer* of its own INBOX and DEADLETTER: it may read their info and
messages and create, read and delete its own consumers on them, and nothing else of JetStream.
It may not create, update, purge or delete a stream: an INBOX set to ``max_msgs: 1`` or deleted
would refuse the router's deliveries (which are then parked, costing the agency its own traffic
only), and changing its retention is the platform's decision, not the tenant's. The streams are
made and changed by ``<slug>-steward``, the operators' identity in the agency's account (seed in
the deployment's creds, like ``steward`` in ROUTER), which never deletes or purges them either.

The agency exports two services to ROUTER only: ``in.>`` (deliveries into its INBOX) and
``dlq.router.>`` (the router's word on a record it refused, into its DEADLETTER, with the raw
record: the raw input stays in the agency's own account).
"""

from __future__ import annotations

from ._agencies import Agency
from ._creds import Credentials
from ._quotas import account_limits, agency_js_limits

__all__ = [
    "AGENCY_CONSUMER_API",
    "JS_DENY_DESTRUCTIVE",
    "ROUTER_ACCOUNT",
    "agency_account",
    "agency_steward",
    "router_imports",
]

ROUTER_ACCOUNT = "ROUTER"

JS_DENY_DESTRUCTIVE = [
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
]

_AGENCY_STREAMS = ("INBOX", "DEADLETTER")


def stream_reads(stream: str) -> list[str]:
    """What a consumer of ``stream`` needs of JetStream's API (nats-py's stream_info, get_msg,
    pull_subscribe, ordered consumers and their flow control, acks). A `*` inside a token is not a
    NATS wildcard: each stream is spelt out."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.ACK.{stream}.>",
        # an ordered consumer answers the server's flow control: without it a replay stalls once a few
        # MB are pending (DECISIONS of large decisions, read by `samband decision` as the auditor)
        f"$JS.FC.{stream}.>",
    ]


# What an agency may do with its own streams: consume them, nothing else (its steward makes them).
AGENCY_CONSUMER_API = [
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    *(
        subject
        for stream in _AGENCY_STREAMS
        for subject in (*stream_reads(stream), f"$JS.API.CONSUMER.NAMES.{stream}", f"$JS.API.CONSUMER.LIST.{stream}")
    ),
    "$JS.FC.>",
]


def agency_steward(slug: str) -> str:
    """The operators' identity in ``slug``'s account (a slug never holds `-`, so it cannot clash)."""
    return f"{slug}-steward"


def agency_account(agency: Agency, creds: Credentials) -> dict:
    slug = agency.slug
    return {
        "jetstream": agency_js_limits(agency.limits),
        "limits": account_limits(agency.limits),
        "users": [
            {
                "nkey": creds.ensure(slug),
                "permissions": {
                    # `in.>` is written only by the router through the service import; the
                    # agency itself may not forge deliveries into its own inbox.
                    "publish": {
                        "allow": ["out.>", "dlq.>", "receipts.>", *AGENCY_CONSUMER_API],
                        "deny": JS_DENY_DESTRUCTIVE,
                    },
                    "subscribe": {"allow": ["_INBOX.>", "deliver.>"]},
                },
            },
            {
                "nkey": creds.ensure(agency_steward(slug)),
                "permissions": {
                    "publish": {"allow": ["$JS.API.>"], "deny": JS_DENY_DESTRUCTIVE},
                    "subscribe": {"allow": ["_INBOX.>"]},
                },
            },
        ],
        "exports": [
            {"service": "in.>", "accounts": [ROUTER_ACCOUNT]},
            {"service": "dlq.router.>", "accounts": [ROUTER_ACCOUNT]},
        ],
        "imports": [
            {"service": {"account": ROUTER_ACCOUNT, "subject": f"ingest.{slug}.>"}, "to": "out.>"},
            {"service": {"account": ROUTER_ACCOUNT, "subject": f"receipt.{slug}.>"}, "to": "receipts.>"},
        ],
    }


def router_imports(agencies: list[Agency]) -> list[dict]:
    """ROUTER's service imports of each agency's INBOX and of its router dead letters."""
    out: list[dict] = []
    for a in agencies:
        out.append({"service": {"account": a.slug, "subject": "in.>"}, "to": f"inbox.{a.slug}.>"})
        out.append({"service": {"account": a.slug, "subject": "dlq.router.>"}, "to": f"deadletter.{a.slug}.>"})
    return out
