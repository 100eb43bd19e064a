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


def test_samband_up_starts_the_broker_and_router_and_stops_cleanly_on_sigterm(tmp_path):
    port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "samband", "--state-dir", str(tmp_path / "state"), "up", "--port", str(port), "--http-port", str(http_port)],
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
    assert (tmp_path / "state" / "creds" / "polisen.nk").stat().st_mode & 0o777 == 0o600
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopped cleanly" in out
