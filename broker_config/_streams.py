"""The streams of a deployment, and making them: in one account, and an agency's own.

An agency's streams are made by two operators' identities, never by the agency's own (which may
only consume, `_permissions.py`): its INGEST_<agency> in ROUTER by ``steward``, its INBOX and
DEADLETTER in its account by ``<agency>-steward``, each with its file's limits (`_quotas.py`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

import nats
from nats.errors import Error as NatsError
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import Error as JsError

from ._agencies import Agency
from ._errors import BrokerUnavailable
from ._quotas import DECISIONS_BYTES, RECEIPTS_BYTES, agency_streams, ingest_stream_config, router_tenant_streams

__all__ = [
    "AGENCY_STREAMS",
    "DEADLETTER_STREAM",
    "INBOX_STREAM",
    "ROUTER_STREAMS",
    "provision_agency",
    "provision_streams",
]

_DAY = 86_400.0

# Streams in the ROUTER account, but the audit log's (`_audit.py`), which only the audit admin makes,
# and each agency's INGEST_<agency>, made from its agency file (`_streams.provision_agency`).
ROUTER_STREAMS: tuple[StreamConfig, ...] = (
    # Agency registrations (onboarding/offboarding), read by the router to know who exists.
    StreamConfig(name="REGISTRY", subjects=["registry.>"], storage=StorageType.FILE),
    # The councils' signed decisions: their history is kept (an audit entry cites `DECISIONS#<seq>`),
    # no decision is larger than the router reads (router/_decisions.py: MAX_DECISION_BYTES), and the
    # stream reserves its room: a flood from SSO's credentials is refused when it is full, and never
    # takes the audit log's room (_quotas.py: DECISIONS_BYTES).
    StreamConfig(
        name="DECISIONS",
        subjects=["decisions.>"],
        storage=StorageType.FILE,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        max_msg_size=64 * 1024,
        max_bytes=DECISIONS_BYTES,
        discard=DiscardPolicy.NEW,
    ),
    # Agencies write their receipts here (receipts.>): bounded like every stream they fill, so
    # that a flood of receipts cannot take the audit log's room (broker_config/_quotas.py).
    StreamConfig(
        name="RECEIPTS",
        subjects=["receipt.>"],
        storage=StorageType.FILE,
        max_age=30 * _DAY,
        max_bytes=RECEIPTS_BYTES,
        max_msg_size=4 * 1024,
    ),
    *router_tenant_streams(),
)
# An agency's own streams with the default limits (its file's [limits] change their retention;
# a centre's inbox keeps 400 days, see _quotas.py).
INBOX_STREAM, DEADLETTER_STREAM = agency_streams()
AGENCY_STREAMS = (INBOX_STREAM, DEADLETTER_STREAM)


async def provision_streams(nc: nats.NATS, configs: Iterable[StreamConfig], *, replicas: int = 1) -> None:
    """Create or update ``configs`` in the account ``nc`` is connected to (a cluster uses ``replicas=3``)."""
    js = nc.jetstream()
    for cfg in configs:
        await _ensure_stream(js, dataclasses.replace(cfg, num_replicas=replicas) if replicas != 1 else cfg)


async def provision_agency(router: nats.NATS, own: nats.NATS, agency: Agency, *, replicas: int = 1) -> None:
    """``agency``'s ingest stream (``router``: the ROUTER steward) and its own streams (``own``: its steward)."""
    await provision_streams(router, [ingest_stream_config(agency.slug, agency.limits)], replicas=replicas)
    await provision_streams(own, agency_streams(agency.limits, tier=agency.tier), replicas=replicas)


async def _ensure_stream(js, cfg: StreamConfig) -> None:
    # Right after a live reload that added an account, JetStream may answer "no responders" for a
    # moment: asked again for up to two seconds before it counts as unavailable.
    for attempt in range(9):
        try:
            try:
                await js.stream_info(cfg.name)
            except nats.js.errors.NotFoundError:
                await js.add_stream(cfg)
            else:
                await js.update_stream(cfg)
            return
        except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError) as exc:
            if attempt == 8:
                raise BrokerUnavailable(f"Expected stream {cfg.name} created or updated, got {exc!r}") from exc
            await asyncio.sleep(0.25)
        except (JsError, NatsError) as exc:
            raise BrokerUnavailable(f"Expected stream {cfg.name} created or updated, got {exc!r}") from exc
