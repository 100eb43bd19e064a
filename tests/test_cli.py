"""The console script as a user types it."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys

from click.testing import CliRunner

from samband import __version__
from samband.broker_config import free_port
from samband.cli import cli
from samband.observability import get_logger
from samband.observability.audit import ExportHeader, write_export
from samband.testing import synthetic_log

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


def test_samband_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.output) == (0, f"samband {__version__}\n")


def test_global_options_are_accepted_after_the_subcommand_too(fresh_deployment):
    state = str(fresh_deployment.state_dir)
    before = CliRunner().invoke(cli, ["--state-dir", state, "creds", "show", "polisen", "--json"])
    after = CliRunner().invoke(cli, ["creds", "show", "polisen", "--json", "--state-dir", state])
    inside = CliRunner().invoke(cli, ["creds", "--state-dir", state, "show", "polisen", "--json"])
    assert before.exit_code == after.exit_code == inside.exit_code == 0, after.output
    assert json.loads(before.stdout) == json.loads(after.stdout) == json.loads(inside.stdout)
    assert json.loads(after.stdout)["url"] == fresh_deployment.url


def test_a_table_is_not_cut_to_80_columns_when_piped(tmp_path):
    log = synthetic_log(30, batch=10)
    data = log.data()
    header = ExportHeader(
        exported_at=dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        origin=log.key.origin, size=len(data.entries), scope="log", entries=len(data.entries),
    )  # fmt: skip
    write_export(
        tmp_path / "export.json", header, data.entries, [n for _, n in data.checkpoints], leaves=data.published
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-m", "samband", "audit", "query", "--file", str(tmp_path / "export.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert rows and all(len(line) > 80 for line in rows)
    assert "…" not in proc.stdout  # no value was elided to fit


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_are_json_lines_off_a_terminal_and_console_lines_on_one_stdlib_loggers_included():
    """`up` and `onboard` used to differ; now one configuration for every command and every logger."""
    import logging

    from samband.observability import configure_logging

    piped, terminal = io.StringIO(), _Terminal()
    try:
        for stream in (piped, terminal):
            configure_logging(level="info", stream=stream)
            logging.getLogger("nats.aio.client").warning("reconnecting to %s", "nats://127.0.0.1:4222")
            get_logger("samband.test").info("agency onboarded", agency="csn", pnr="19850312-1234")
    finally:
        configure_logging(level="warning", json=True)
    lines = [json.loads(line) for line in piped.getvalue().splitlines()]
    assert [(e["event"], e["level"]) for e in lines] == [
        ("reconnecting to nats://127.0.0.1:4222", "warning"),
        ("agency onboarded", "info"),
    ]
    assert lines[0]["logger"] == "nats.aio.client" and lines[1]["agency"] == "csn"
    assert lines[1]["pnr"] == "198503**-****"
    console = terminal.getvalue().splitlines()
    assert len(console) == 2 and not console[0].startswith("{")
    assert "reconnecting to nats://127.0.0.1:4222" in console[0] and "agency onboarded" in console[1]


def test_a_line_another_thread_logs_while_a_command_runs_is_not_taken_as_the_commands_output(tmp_path):
    """The tests' `CommandRunner`: a router in the test process that logs while a command runs (a
    warning under load) must not change what the command is seen to print, as for a user."""
    import threading

    from ._support import CommandRunner

    def run(runner: CliRunner, out) -> str:
        stop = threading.Event()

        def router_chatter() -> None:
            log = get_logger("samband.router")
            while not stop.is_set():
                log.warning("publish not acknowledged; retrying")
                stop.wait(0.001)

        chatter = threading.Thread(target=router_chatter)
        chatter.start()
        try:
            result = runner.invoke(cli, ["schemas", "export", str(out)], env={"COLUMNS": "200"})
        finally:
            stop.set()
            chatter.join()
        assert result.exit_code == 0, result.output
        return result.output

    # the hazard is real: click's runner takes the other thread's lines as the command's
    assert "publish not acknowledged" in run(CliRunner(), tmp_path / "plain")
    shown = run(CommandRunner(), tmp_path / "own")
    assert "publish not acknowledged" not in shown
    assert shown.split()[:3] == ["31", "files", "in"]  # and what the command itself printed is still there
