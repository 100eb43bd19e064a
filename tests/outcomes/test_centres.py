"""Nuc, the seven Ruc and the national follow-up are parties on the bus like agencies, shipped with samband."""

from __future__ import annotations

import pytest

from samband.broker_config import AgencyFileError, OnboardingError, offboard, onboard


async def test_a_centres_inbox_keeps_a_year_and_a_quarter_and_an_agencys_thirty_days(follow_up):
    ages = {}
    for party in ("ruc_mitt", "uppfoljning", "skatteverket"):
        nc = await follow_up.dep.connect(party)
        try:
            ages[party] = (await nc.jetstream().stream_info("INBOX")).config.max_age
        finally:
            await nc.close()
    assert ages == {"ruc_mitt": 400 * 86_400.0, "uppfoljning": 400 * 86_400.0, "skatteverket": 30 * 86_400.0}


async def test_a_centre_is_never_onboarded_nor_offboarded(follow_up, tmp_path):
    (tmp_path / "m.toml").write_text('agency = "ruc_gotland"\n')
    file = tmp_path / "ruc_gotland.toml"
    file.write_text(
        'slug = "ruc_gotland"\nname = "Ruc Gotland"\ntier = "centre"\nregions = ["nord"]\nsends = []\nmapping = "m.toml"\n'
    )
    with pytest.raises(AgencyFileError) as exc:
        await onboard(follow_up.dep, file)
    assert str(exc.value) == (
        f"{file}: key `tier`: Expected core or network (the effort's centres ship with samband), got 'centre'"
    )
    with pytest.raises(OnboardingError) as exc:
        await offboard(follow_up.dep, "ruc_mitt")
    assert str(exc.value) == "Expected an agency, got the centre 'ruc_mitt' (the effort's centres ship with samband)"
    assert "ruc_mitt" in follow_up.dep.agencies
