"""Offboarding shuts the door: the agency's open connection is closed and its old seed no longer gets in,
while every other agency stays connected."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from samband.broker_config import offboard, onboard

from .._support import wait_for

ONBOARDING = Path(__file__).resolve().parents[2] / "examples" / "onboarding"


async def _connect_with_seed(dep, seed: str) -> nats.NATS:
    return await nats.connect(
        dep.url, nkeys_seed_str=seed, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3
    )


async def test_an_offboarded_agency_s_old_seed_is_refused_when_it_tries_to_reconnect(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    await onboard(dep, ONBOARDING / "csn.toml")
    old_seed = dep.seed("csn").read_text().strip()  # what the agency's IT team keeps in its own vault
    before = await _connect_with_seed(dep, old_seed)
    polisen = await dep.connect("polisen")
    try:
        assert before.is_connected  # the seed works while the agency is on the bus
        await offboard(dep, "csn")
        await wait_for(lambda: before.is_closed, what="the offboarded agency's open connection closed by the server")
        with pytest.raises(nats.errors.Error) as refused:
            again = await _connect_with_seed(dep, old_seed)
            await again.close()
        assert "authorization violation" in repr(refused.value).lower()
        assert polisen.is_connected and polisen.stats["reconnects"] == 0
    finally:
        await before.close()
        await polisen.close()
