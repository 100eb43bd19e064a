"""`samband onboard|offboard|creds show|broker render` as a user types them, against a running broker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

from samband.broker_config import Deployment
from samband.cli import cli

from .._support import CommandRunner

ONBOARDING = Path(__file__).resolve().parents[2] / "examples" / "onboarding"


def _samband(dep: Deployment, *args: str):
    return CommandRunner().invoke(cli, ["--state-dir", str(dep.state_dir), *args], catch_exceptions=False)


def test_creds_show_prints_how_an_agency_connects(fresh_deployment):
    result = _samband(fresh_deployment, "creds", "show", "polisen")
    assert result.exit_code == 0, result.output
    seed = fresh_deployment.seed("polisen")
    assert f"url:       {fresh_deployment.url}" in result.output
    assert f"seed file: {seed}" in result.output
    assert f'nc = await nats.connect("{fresh_deployment.url}", nkeys_seed="{seed}")' in result.output
    assert f"nats --server {fresh_deployment.url} --nkey {seed} pub out.outcome" in result.output
    assert fresh_deployment.creds.public_key("polisen") in result.output


def test_creds_show_for_a_misspelt_identity_suggests_the_closest_one(fresh_deployment):
    result = _samband(fresh_deployment, "creds", "show", "polis")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: Invalid value for 'IDENTITY': Expected an identity with credentials, got `polis`; "
        "did you mean `polisen`? (try `samband creds show -h`)\n"
    )
    unknown = _samband(fresh_deployment, "creds", "show", "xyzzy")
    assert unknown.exit_code == 2
    assert "Expected an identity with credentials (admin, aklagarmyndigheten, " in unknown.stderr


def test_onboard_from_the_command_line_prints_the_adapter_command_and_refuses_a_second_time(fresh_deployment):
    asyncio.run(fresh_deployment.provision())
    file = ONBOARDING / "bolagsverket.toml"
    result = _samband(fresh_deployment, "onboard", str(file))
    assert result.exit_code == 0, result.output
    assert "onboarded bolagsverket (Bolagsverket, network): account bolagsverket" in result.output
    # the deployment keeps the checked mapping: the adapter runs without --mapping
    kept = fresh_deployment.state_dir.resolve() / "mappings" / "bolagsverket.toml"
    assert kept.read_bytes() == (ONBOARDING / "mappings" / "bolagsverket.toml").read_bytes()
    assert (
        f"samband --state-dir {fresh_deployment.state_dir} adapter run bolagsverket "
        f"--sink {fresh_deployment.state_dir / 'received'}"
    ) in result.output
    again = _samband(fresh_deployment, "onboard", str(file))
    assert again.exit_code == 1
    assert again.output.replace("\n", "") == (
        f"Error: {file}: key `slug`: Expected a slug not yet on the bus, got 'bolagsverket' (already onboarded)"
    )
    gone = _samband(fresh_deployment, "offboard", "bolagsverket")
    assert gone.exit_code == 0, gone.output
    assert "offboarded bolagsverket: credentials revoked" in gone.output


def test_onboard_refuses_a_broken_file_and_the_running_broker_keeps_its_config(fresh_deployment, tmp_path):
    before = fresh_deployment.config_file.read_text()
    bad = tmp_path / "gotlandsverket.toml"
    bad.write_text(
        (ONBOARDING / "ivo.toml")
        .read_text()
        .replace('slug = "ivo"', 'slug = "gotlandsverket"')
        .replace('"ost"', '"gotland"')
        .replace('mapping = "mappings/ivo.toml"', f'mapping = "{ONBOARDING}/mappings/ivo.toml"')
    )
    result = _samband(fresh_deployment, "onboard", str(bad))
    assert result.exit_code == 1
    assert result.output.replace("\n", "").startswith(f"Error: {bad}: key `regions[4]`: Expected a region (")
    assert result.output.replace("\n", "").endswith("got 'gotland'")
    assert fresh_deployment.config_file.read_text() == before
    assert not fresh_deployment.seed("gotlandsverket").exists()


def test_broker_render_writes_a_three_node_cluster_and_a_leaf_per_agency_each_checked(fresh_deployment, tmp_path):
    out = tmp_path / "prod"
    result = _samband(
        fresh_deployment,
        "broker",
        "render",
        "--cluster",
        "3",
        "--leaf",
        "polisen",
        "--leaf",
        "tullverket",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.conf")) == [
        "leaf-polisen.conf",
        "leaf-tullverket.conf",
        "node-1.conf",
        "node-2.conf",
        "node-3.conf",
    ]
    node = json.loads((out / "node-2.conf").read_text())
    assert node["cluster"]["routes"] == [f"nats-route://127.0.0.1:{6222 + i}" for i in range(3)]
    assert node["server_name"] == "samband-2" and node["leafnodes"]["port"] == 7423
    assert (out / "leaf-polisen.conf").stat().st_mode & 0o777 == 0o600  # it holds the agency's seed
    unknown = _samband(fresh_deployment, "broker", "render", "--leaf", "polis", "--out", str(out))
    assert unknown.exit_code == 1 and "--leaf: Expected an agency on the bus (" in unknown.output


def _cmdline(pid: int, timeout: float = 10.0) -> list[str]:
    """The started process's argv (empty for a moment while it is being exec'd)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        if raw:
            return [a.decode() for a in raw.split(b"\0")[:-1]]
        time.sleep(0.05)
    raise AssertionError(f"process {pid} shows no command line within {timeout}s")


def test_onboard_can_start_the_agencys_declarative_adapter_in_the_background(fresh_deployment):
    dep = fresh_deployment
    asyncio.run(dep.provision())
    result = _samband(dep, "onboard", str(ONBOARDING / "csn.toml"), "--start-adapter")
    assert result.exit_code == 0, result.output
    pid = int(re.search(r"adapter started \(pid (\d+), log ", result.output).group(1))
    try:
        argv = _cmdline(pid)
        assert argv[-7:] == [
            "--state-dir",
            str(dep.state_dir),
            "adapter",
            "run",
            "csn",
            "--sink",
            str(dep.state_dir / "received"),
        ]
        assert Path(argv[1]).name == "samband"
        assert (dep.state_dir / "adapters" / "csn.log").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
