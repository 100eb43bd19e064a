"""The secretariat's story end to end, as people type it: a new network agency is onboarded, a council
decides an operation with `samband decision`, and the agency exchanges records with a core agency,
with no hand-written NATS message anywhere."""

from __future__ import annotations

from pathlib import Path

import msgspec

from samband.broker_config import free_port
from samband.cli import cli

from ._support import CommandRunner, keep_reading, samband_process, stop_read_process, wait_until

ONBOARDING = Path(__file__).resolve().parents[1] / "examples" / "onboarding"
MAPPING = ONBOARDING / "mappings" / "arbetsmiljoverket.toml"
OPERATION = "vast-arbetsliv"


def _samband(state: Path, *args: str) -> str:
    result = CommandRunner().invoke(cli, ["--state-dir", str(state), *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _lines(path: Path) -> list[dict]:
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_a_new_agency_exchanges_records_once_a_secretariat_has_run_samband_decision(tmp_path):
    state, exports, received = tmp_path / "state", tmp_path / "exports", tmp_path / "received"
    up, output = samband_process(
        state, "up", "--port", str(free_port()), "--http-port", str(free_port()), ready="router running"
    )
    reader = keep_reading(up, output)
    try:
        assert (state / "councils" / "rsr-vast.key").stat().st_mode & 0o777 == 0o600  # made at set-up
        assert (state / "councils").stat().st_mode & 0o777 == 0o700
        _samband(state, "onboard", str(ONBOARDING / "arbetsmiljoverket.toml"))

        published = _samband(
            state,
            "decision",
            "create",
            OPERATION,
            "--council",
            "rsr-vast",
            "--name",
            "Work-life crime in region Väst",
            "--participant",
            "skatteverket=tax_control",
            "--participant",
            "arbetsmiljoverket=workplace_inspection",
            "--record-type",
            "supervision.finding",
            "--record-type",
            "tax.audit",
        )
        assert "published as DECISIONS#1" in published
        # the running router applies it at once (its log says so, naming the decision)
        wait_until(lambda: any("DECISIONS#1" in line for line in output), timeout=30, what="the router applied it")

        findings = _samband(
            state, "adapter", "sample", "arbetsmiljoverket", "3", str(exports), "--mapping", str(MAPPING),
            "--operation", OPERATION, "--region", "vast",
        ).strip()  # fmt: skip
        audits = _samband(
            state, "adapter", "sample", "skatteverket", "3", str(exports), "--operation", OPERATION, "--region", "vast"
        ).strip()
        _samband(state, "adapter", "run", "arbetsmiljoverket", "--mapping", str(MAPPING), "--source", findings,
                 "--no-inbox")  # fmt: skip
        _samband(state, "adapter", "run", "skatteverket", "--source", audits, "--no-inbox")

        def skatteverket_received() -> bool:
            _samband(state, "adapter", "run", "skatteverket", "--sink", str(received), "--once")
            return len(_lines(received / "skatteverket.jsonl")) >= 3

        def arbetsmiljoverket_received() -> bool:
            _samband(state, "adapter", "run", "arbetsmiljoverket", "--mapping", str(MAPPING), "--sink",
                     str(received), "--once")  # fmt: skip
            return len(_lines(received / "arbetsmiljoverket.jsonl")) >= 1

        wait_until(skatteverket_received, timeout=60, interval=0.2, what="skatteverket's findings")
        wait_until(arbetsmiljoverket_received, timeout=60, interval=0.2, what="arbetsmiljoverket's tax audit")
        listed = _samband(state, "decision", "list")
    finally:
        stop_read_process(up, output, reader)

    to_skatteverket = _lines(received / "skatteverket.jsonl")
    assert [e["record"]["type"] for e in to_skatteverket] == ["supervision.finding"] * 3
    assert {e["origin"] for e in to_skatteverket} == {"arbetsmiljoverket"}
    to_arbetsmiljoverket = _lines(received / "arbetsmiljoverket.jsonl")
    assert [(e["origin"], e["record"]["type"]) for e in to_arbetsmiljoverket] == [("skatteverket", "tax.audit")]
    assert f"operation {OPERATION}: in force; vast, " in listed and "set by DECISIONS#1" in listed
    assert "DECISIONS#1 " in listed and f"rsr-vast: create operation {OPERATION}: admitted" in listed
