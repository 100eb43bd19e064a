"""What an operator meets when the broker is not there, when `samband up` runs twice, and when it
is stopped at any moment: one line and an exit code, never a hang, never a second router."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samband.broker_config import BrokerUnavailable, Deployment, DeploymentInUse, free_port

from ._support import samband_process, stop_samband_process, wait_for

NEEDS_THE_BROKER = [
    ("adapter", "run", "polisen", "--no-inbox", "--source", "{export}"),
    ("adapter", "dlq", "polisen"),
    ("audit", "query", "--from", "polisen"),
    ("audit", "verify"),
    ("audit", "export", "--out", "{tmp}/export.json"),
    ("audit", "reconcile"),
    ("audit", "provision"),
    ("witness", "polisen", "--once"),
    ("router", "run"),
    ("offboard", "kustbevakningen"),
    ("outcomes", "report"),
]
IDENTITY = {
    "adapter": "polisen",
    "audit": "auditor",
    "router": "router",
    "audit provision": "audit-admin",
    "witness": "witness-polisen",
    "outcomes": "uppfoljning",
}


def _samband(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "samband", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "200"} | (env or {}),
    )


def test_every_command_that_needs_the_broker_fails_with_one_line_when_it_is_stopped(tmp_path):
    dep = Deployment(tmp_path / "state")
    dep.start()
    asyncio.run(dep.provision())
    dep.stop()  # what an operator has after a reboot, before `samband up`
    export = tmp_path / "polisen.jsonl"
    export.write_text("{}\n")
    procs = [
        (cmd, _samband("--state-dir", str(dep.state_dir), *(a.format(tmp=tmp_path, export=export) for a in cmd)))
        for cmd in NEEDS_THE_BROKER
    ]
    for cmd, proc in procs:
        out, err = proc.communicate(timeout=60)
        identity = IDENTITY.get(" ".join(cmd[:2]), IDENTITY.get(cmd[0]))
        expected = (
            f"Error: Expected a nats-server at {dep.url} for `{identity}`, got connection refused: is the "
            f"deployment running? Start it with `samband --state-dir {dep.state_dir} up`\n"
        )
        if cmd[0] == "offboard":  # it changes the server's configuration: it looks for the server itself
            expected = (
                f"Error: Expected this deployment's nats-server running at {dep.url}, found none (no live pid in "
                f"{dep.pid_file}): is the deployment running? Start it with `samband --state-dir {dep.state_dir} up`\n"
            )
        # (the router may warn first, e.g. that it trusts no council keys; the error is the last line)
        assert (proc.returncode, err.splitlines()[-1] + "\n") == (1, expected), cmd
        assert err.count("Error:") == 1, err
        assert "Traceback" not in out + err


async def test_credentials_another_deployment_does_not_know_are_refused_at_once(bus, tmp_path):
    stranger = Deployment(tmp_path / "other", port=bus.port, http_port=bus.http_port)
    stranger.render()  # its own keys, pointed at the session's broker (a second `up` on busy default ports)
    with pytest.raises(BrokerUnavailable) as err:
        await stranger.connect("steward")
    assert str(err.value) == (
        f"Expected the nats-server at {bus.url} to accept `steward`, got an authorization violation: another "
        f"deployment answers on that port; start this one with `samband --state-dir {stranger.state_dir} up`"
    )


def _up(state: Path, *extra: str, **kwargs):
    return samband_process(
        state,
        "up",
        "--port",
        str(free_port()),
        "--http-port",
        str(free_port()),
        *extra,
        ready="router running",
        **kwargs,
    )


def test_a_second_samband_up_on_the_same_state_directory_is_refused_and_changes_nothing(tmp_path):
    state = tmp_path / "state"
    proc, lines = _up(state)
    try:
        pid_file = state / "nats-server.pid"
        server_pid = pid_file.read_text()
        config = (state / "nats-server.conf").read_text()
        second = _samband("--state-dir", str(state), "up", "--port", str(free_port()))
        out, err = second.communicate(timeout=60)
        assert (second.returncode, err) == (
            1,
            f"Error: Expected the state directory {state} to be free, got it in use by a running deployment "
            f"(pid {proc.pid}): stop that one first (`kill -TERM {proc.pid}`), or give this one its own --state-dir\n",
        )
        # nothing of the first one was touched: its server's pid file, its configuration, its router
        assert pid_file.read_text() == server_pid
        assert (state / "nats-server.conf").read_text() == config
        assert "router running" not in out
    finally:
        assert "stopped cleanly" in stop_samband_process(proc, lines)


def test_a_second_samband_up_on_busy_ports_is_refused_at_once(tmp_path):
    first = Deployment(tmp_path / "first")
    first.start()
    try:
        second = _samband("--state-dir", str(tmp_path / "second"), "up", "--port", str(first.port))
        _, err = second.communicate(timeout=60)
        assert (second.returncode, err) == (
            1,
            f"Error: Expected port {first.port} on 127.0.0.1 to be free for the nats-server, got it in use "
            "(another `samband up` or nats-server): stop what listens there, or choose another with --port\n",
        )
        assert not (tmp_path / "second" / "nats-server.pid").exists()
    finally:
        first.stop()


def test_a_lock_left_by_a_killed_samband_up_is_taken_over(tmp_path):
    state = tmp_path / "state"
    proc, _ = _up(state)
    server_pid = int((state / "nats-server.pid").read_text())
    proc.kill()  # SIGKILL: no clean-up; its nats-server is left running
    proc.wait(10)
    os.kill(server_pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{server_pid}").exists():
        time.sleep(0.05)
    assert (state / "samband.lock").read_text().strip() == str(proc.pid)  # the dead holder's pid is still written
    again, again_lines = _up(state)
    try:
        assert (state / "samband.lock").read_text().strip() == str(again.pid)
    finally:
        assert "stopped cleanly" in stop_samband_process(again, again_lines)


@pytest.mark.parametrize("moment", ["nats-server on", "router running"])
def test_samband_up_stops_cleanly_on_sigterm_while_it_starts(tmp_path, moment):
    state = tmp_path / "state"
    proc, lines = _up(state) if moment == "router running" else _starting(state, moment)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopped cleanly" in "".join(lines) + out
    pid = (state / "nats-server.pid").read_text().strip() if (state / "nats-server.pid").exists() else None
    if pid:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not (state / "samband.lock").read_text().strip()  # released


def _starting(state: Path, ready: str):
    """`samband up`, caught as soon as its server is up and before its router is."""
    return samband_process(state, "up", "--port", str(free_port()), "--http-port", str(free_port()), ready=ready)


async def test_a_deployment_object_on_a_used_state_directory_is_refused(tmp_path):
    first = Deployment(tmp_path / "state")
    first.start()
    try:
        with pytest.raises(DeploymentInUse):
            Deployment(tmp_path / "state").start()
        await wait_for(lambda: first.server is not None and first.server.proc.poll() is None)
    finally:
        first.stop()
