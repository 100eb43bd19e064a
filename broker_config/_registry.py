"""The agency registry: each agency's file, announced to the router on REGISTRY.

Onboarding announces a new agency (its regions, its ``sends``), offboarding announces it inactive;
the router follows REGISTRY live. The agencies that ship with samband (the core agencies and the
centres) are known from the deployment's files by whoever starts the router.
"""

from __future__ import annotations

import time

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from samband.schemas import AgencyRegistration
from samband.schemas.layout import REGISTRATION_PREFIX

from ._agencies import Agency
from ._errors import BrokerUnavailable, OnboardingError

__all__ = ["announce", "registration_for", "registration_subject"]


def registration_subject(slug: str) -> str:
    return f"{REGISTRATION_PREFIX}{slug}"


def registration_for(agency: Agency, *, active: bool = True) -> AgencyRegistration:
    """What the router is told of ``agency`` (the effort's centres ship with samband and are never announced)."""
    if agency.tier == "centre":
        raise OnboardingError(f"Expected an agency of tier core or network, got centre {agency.slug!r}")
    return AgencyRegistration(
        slug=agency.slug,
        name=agency.name,
        tier=agency.tier,
        regions=agency.regions,
        sends=agency.sends,
        purposes=agency.purposes,
        active=active,
    )


async def announce(nc: nats.NATS, agency: Agency, *, active: bool = True) -> int:
    """Publish the agency's registration to REGISTRY; its stream sequence."""
    reg = registration_for(agency, active=active)
    # A fresh id per announcement: a re-onboarding inside the dedupe window must not be swallowed.
    msg_id = f"registry:{agency.slug}:{'on' if active else 'off'}:{time.time_ns()}"
    try:
        ack = await nc.jetstream().publish(
            registration_subject(agency.slug), msgspec.json.encode(reg), headers={"Nats-Msg-Id": msg_id}, timeout=5
        )
        return ack.seq
    except (NatsError, JsError) as exc:
        raise BrokerUnavailable(f"Expected REGISTRY to store the registration of {agency.slug}, got {exc!r}") from exc
