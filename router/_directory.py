"""What each agency may send: the agency files, as announced on REGISTRY, replayed, then followed live.

Every agency's file is announced on REGISTRY (`samband.broker_config` announces them at
provisioning and onboarding). The router reads it for what the policy does not hold: the
record types each origin's file lists in ``sends`` (checked at the edge, `_intake`), including an
agency onboarded while it runs (``generation`` moves on each change). The effort's centres (Nuc,
the Ruc) ship with samband and are never announced: whoever starts the router hands their files'
``sends`` in (``known``, from the deployment), and an announcement of an agency replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from samband.observability import get_logger
from samband.schemas import AgencyRegistration
from samband.schemas.layout import REGISTRATION_PREFIX, REGISTRY_STREAM, REGISTRY_SUBJECTS

from ._follow import replay_then_follow

__all__ = ["AgencyDirectory"]

log = get_logger("samband.router")

_REGISTRATION = msgspec.json.Decoder(AgencyRegistration)


class AgencyDirectory:
    """The latest registration of every agency ever announced (an offboarded one stays, inactive)."""

    def __init__(self, known: Mapping[str, Iterable[str]] | None = None) -> None:
        self.agencies: dict[str, AgencyRegistration] = {}
        self.sends: dict[str, frozenset[str]] = {slug: frozenset(types) for slug, types in (known or {}).items()}
        self.generation = 0
        self._sub: Any = None

    def apply(self, data: bytes, where: str) -> None:
        try:
            reg = _REGISTRATION.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            log.error("registration refused", where=where, reason=str(exc))
            return
        if self.agencies.get(reg.slug) == reg:
            return
        self.agencies = {**self.agencies, reg.slug: reg}
        self.sends = {**self.sends, reg.slug: frozenset(reg.sends)}
        self.generation += 1

    async def start(self, nc: nats.NATS, *, timeout: float = 30.0) -> None:
        """Replay REGISTRY to its current end, then follow it."""

        def on_msg(msg) -> None:
            if msg.subject.startswith(REGISTRATION_PREFIX):
                self.apply(msg.data, f"{msg.subject} (#{msg.metadata.sequence.stream})")

        self._sub = await replay_then_follow(nc.jetstream(), REGISTRY_STREAM, REGISTRY_SUBJECTS, on_msg, timeout)

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except (NatsError, JsError):
                pass
            self._sub = None
