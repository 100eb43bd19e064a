"""The console script as a user types it."""

from __future__ import annotations

from click.testing import CliRunner

from samband.broker_config import free_port
from samband.cli import cli

from ._support import samband_process, stop_samband_process


def test_samband_help_lists_the_subcommands_that_exist():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for verb in ("up", "demo", "adapter"):
        assert f"  {verb} " in result.output


def _run_up_until_ready(state):
    return samband_process(
        state, "up", "--port", str(free_port()), "--http-port", str(free_port()), ready="router running"
    )


def test_samband_up_starts_the_broker_and_router_and_stops_cleanly_on_sigterm(tmp_path):
    proc, lines = _run_up_until_ready(tmp_path / "state")
    assert (tmp_path / "state" / "creds" / "polisen.nk").stat().st_mode & 0o777 == 0o600
    assert "stopped cleanly" in stop_samband_process(proc, lines)


def test_an_offboarded_core_agency_stays_off_when_samband_up_restarts(tmp_path):
    from samband.broker_config import Deployment

    state = tmp_path / "state"
    stop_samband_process(*_run_up_until_ready(state))
    dep = Deployment.load(state)
    Deployment(
        state,
        agencies=[a for a in dep.agencies.values() if a.slug != "kustbevakningen"],
        port=dep.port,
        http_port=dep.http_port,
    ).render()  # what `samband offboard` leaves behind
    stop_samband_process(*_run_up_until_ready(state))
    assert "kustbevakningen" not in Deployment.load(state).agencies
    assert '"kustbevakningen"' not in (state / "nats-server.conf").read_text()
