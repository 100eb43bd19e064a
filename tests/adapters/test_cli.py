"""An agency's IT team at the command line: make a sample export, run the adapter, read the dead letters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from samband.cli import cli
from samband.testing import assert_no_personnummer

from .._support import OPERATION, CommandRunner


def samband(bus, *args: str):
    result = CommandRunner().invoke(cli, ["--state-dir", str(bus.state_dir), *args], env={"COLUMNS": "250"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_an_it_team_samples_an_export_runs_the_adapter_and_lists_its_dead_letters(bus, tmp_path):
    out = samband(
        bus,
        "adapter",
        "sample",
        "arbetsformedlingen",
        "30",
        str(tmp_path / "exports"),
        "--seed",
        "5005",
        "--operation",
        OPERATION,
    )
    export = Path(out.output.strip())
    assert export.name == "arbetsformedlingen.csv" and export.read_bytes().startswith(b"\xef\xbb\xbfId;Typ;Datum;")
    with open(export, "ab") as f:
        f.write("AF-BROKEN;Kontroll;2017-13-01;850312-1231;lönebidrag;;;syd;adapter-tests\r\n".encode())

    state = tmp_path / "positions.json"
    # the same run twice: the second resumes at the end
    args = (
        "adapter",
        "run",
        "arbetsformedlingen",
        "--source",
        str(export),
        "--once",
        "--no-inbox",
        "--state",
        str(state),
    )
    run = samband(bus, *args)
    assert run.exit_code == 0, run.output
    assert (
        "│   31 │        30 │          0 │             1 │" in run.output
    )  # read, published, duplicates, dead-lettered
    assert (
        "dlq.date Expected a date (%Y-%m-%d), got '2017-13-01': no such date - at `$.Datum` in "
        "arbetsformedlingen.csv:32"
    ) in run.output
    assert state.exists()

    again = samband(bus, *args)
    assert "│    0 │         0 │          0 │             0 │" in again.output  # resumed at the end: nothing to read

    dlq = samband(bus, "adapter", "dlq", "arbetsformedlingen", "--kind", "date", "--raw")
    assert dlq.exit_code == 0
    assert "arbetsformedlingen.csv:32" in dlq.output and "$.Datum" in dlq.output
    assert "AF-BROKEN;Kontroll;2017-13-01" in dlq.output  # the raw record, for the agency's own eyes


def test_an_unknown_agency_is_refused_with_a_clear_message(bus, tmp_path):
    out = samband(bus, "adapter", "sample", "nosuchagency", "3", str(tmp_path))
    assert out.exit_code == 2
    assert out.stderr.startswith(
        "Error: Invalid value for 'AGENCY': Expected an agency with an adapter (a mapping module, an onboarded "
        "mapping, or --mapping FILE) (aklagarmyndigheten, arbetsformedlingen, "
    )
    assert out.stderr.endswith("got `nosuchagency` (try `samband adapter sample -h`)\n")


def test_an_export_piped_on_stdin_is_published(bus, tmp_path):
    out = samband(
        bus, "adapter", "sample", "aklagarmyndigheten", "7", str(tmp_path), "--seed", "6006", "--operation", OPERATION
    )
    export = Path(out.output.strip())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "samband",
            "--state-dir",
            str(bus.state_dir),
            "adapter",
            "run",
            "aklagarmyndigheten",
            "--source",
            "-",
            "--no-inbox",
        ],
        input=export.read_bytes() + b'{"beslutsnummer": "AM-TRUNC',
        capture_output=True,
        timeout=60,
        env={"COLUMNS": "250", "PATH": ""},
    )
    text = proc.stderr.decode()
    assert proc.returncode == 0, text
    assert_no_personnummer(text + proc.stdout.decode(), "the adapter's output")
    assert "│    8 │         7 │          0 │             1 │" in text
    assert (
        "dlq.truncated truncated last record (the source ends inside it): malformed JSON: Input data was truncated - at stdin:8"
        in text
    )


def test_an_adapter_run_without_a_source_writes_what_the_router_delivered_to_its_inbox(bus, tmp_path):
    import asyncio
    import random

    import msgspec

    from samband.adapters.agencies import polisen
    from samband.schemas import encode

    env = msgspec.structs.replace(
        polisen.to_envelope(polisen.sample(random.Random(7117), 1, operation=OPERATION)[0]), origin="polisen"
    )

    async def deliver() -> None:
        nc = await bus.connect("router")  # only the router can reach an agency's inbox
        try:
            await nc.jetstream().publish(
                "inbox.kustbevakningen.police.vehicle_control",
                encode(env),
                headers={"Nats-Msg-Id": f"{env.id}:kustbevakningen"},
            )
        finally:
            await nc.close()

    asyncio.run(deliver())
    run = samband(bus, "adapter", "run", "kustbevakningen", "--once", "--sink", str(tmp_path / "received"))
    assert run.exit_code == 0, run.output
    written = (tmp_path / "received" / "kustbevakningen.jsonl").read_bytes().splitlines()
    assert env.id in {msgspec.json.decode(line)["id"] for line in written}
