"""The console script as a user types it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from samband.broker_config import free_port
from samband.cli import cli


def test_samband_help_lists_the_subcommands_that_exist():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for verb in ("up", "demo", "adapter"):
        assert f"  {verb} " in result.output


def _run_up_until_ready(state) -> subprocess.Popen:
    port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "samband", "--state-dir", str(state), "up", "--port", str(port), "--http-port", str(http_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | {"COLUMNS": "200"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "router running" in line or proc.poll() is not None:
            break
    assert any("router running" in ln for ln in lines), "".join(lines)
    proc.lines = lines  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(proc.lines) + out  # type: ignore[attr-defined]
    return out


def test_samband_up_starts_the_broker_and_router_and_stops_cleanly_on_sigterm(tmp_path):
    proc = _run_up_until_ready(tmp_path / "state")
    assert (tmp_path / "state" / "creds" / "polisen.nk").stat().st_mode & 0o777 == 0o600
    assert "stopped cleanly" in _stop(proc)


def test_an_offboarded_core_agency_stays_off_when_samband_up_restarts(tmp_path):
    from samband.broker_config import Deployment

    state = tmp_path / "state"
    _stop(_run_up_until_ready(state))
    dep = Deployment.load(state)
    Deployment(state, agencies=[a for a in dep.agencies.values() if a.slug != "kustbevakningen"],
               port=dep.port, http_port=dep.http_port).render()  # what `samband offboard` leaves behind
    _stop(_run_up_until_ready(state))
    assert "kustbevakningen" not in Deployment.load(state).agencies
    assert '"kustbevakningen"' not in (state / "nats-server.conf").read_text()
